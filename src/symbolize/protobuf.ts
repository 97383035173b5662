// A minimal protobuf writer: varints and length-delimited fields, which is all profile.proto needs.

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const MAX_U64 = (1n << 64n) - 1n;

export class ProtoWriter {
  private buf = Buffer.alloc(256);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** An unsigned varint; a negative number is written as its 64-bit two's complement (int64). */
  varint(value: number | bigint): this {
    let v = typeof value === 'bigint' ? value : BigInt(value);
    if (v < 0n) v &= MAX_U64;
    if (v > MAX_U64) throw new RangeError(`varint out of range: ${value}`);
    this.ensure(10);
    // Small values (the common case) without BigInt arithmetic in the loop.
    if (v < 0x80000000n) {
      let n = Number(v);
      while (n >= 0x80) {
        this.buf[this.len++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
      this.buf[this.len++] = n;
      return this;
    }
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
    return this;
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  /** A varint field; proto3 leaves zero values out. */
  uint(field: number, value: number | bigint): this {
    if (value === 0 || value === 0n) return this;
    this.tag(field, WIRE_VARINT);
    return this.varint(value);
  }

  bool(field: number, value: boolean): this {
    return value ? this.uint(field, 1) : this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
    return this;
  }

  /** A string field, written even when empty (a repeated string_table entry must be). */
  string(field: number, s: string): this {
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }

  /** A repeated scalar as one packed, length-delimited field (proto3's default). */
  packed(field: number, values: ReadonlyArray<number | bigint>): this {
    if (values.length === 0) return this;
    const inner = new ProtoWriter();
    for (const v of values) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  /** An embedded message. */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}
