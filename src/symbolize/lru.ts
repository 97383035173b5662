// A bounded map that forgets the least recently used entry (Map keeps insertion order).
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  readonly capacity: number;
  constructor(capacity: number) {
    this.capacity = Math.max(1, capacity);
  }
  get size(): number {
    return this.map.size;
  }
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }
  clear(): void {
    this.map.clear();
  }
}
