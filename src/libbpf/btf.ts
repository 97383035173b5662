// Just enough BTF reading to find globals by name: the DATASEC of a section lists its variables
// with offset and size.
import { native, decodeU32, type Ptr } from './ffi.ts';

const BTF_KIND_DATASEC = 15;
const BTF_TYPE_HEADER = 12; // name_off, info, size/type
const BTF_VAR_SECINFO = 12; // type, offset, size

export interface DatasecVar {
  name: string;
  offset: number;
  size: number;
}

export function readDatasecVars(btf: Ptr, section: string): Map<string, DatasecVar> {
  const vars = new Map<string, DatasecVar>();
  if (btf === null) return vars;
  const id = native.btf__find_by_name_kind(btf, section, BTF_KIND_DATASEC) as number;
  if (id < 0) return vars;
  const sec = native.btf__type_by_id(btf, id);
  const vlen = decodeU32(sec, 4) & 0xffff;
  for (let i = 0; i < vlen; i++) {
    const base = BTF_TYPE_HEADER + i * BTF_VAR_SECINFO;
    const varType = native.btf__type_by_id(btf, decodeU32(sec, base));
    const name = native.btf__name_by_offset(btf, decodeU32(varType, 0)) as string;
    vars.set(name, { name, offset: decodeU32(sec, base + 4), size: decodeU32(sec, base + 8) });
  }
  return vars;
}

const BTF_KIND_STRUCT = 4;
const BTF_MEMBER = 12; // name_off, type, offset

export interface BtfStruct {
  size: number;
  /** Member name -> byte offset, in declaration order. */
  members: Map<string, number>;
}

/** A struct of the object's BTF by name, or undefined when the object carries no such type. */
export function readStruct(btf: Ptr, name: string): BtfStruct | undefined {
  if (btf === null) return undefined;
  const id = native.btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT) as number;
  if (id < 0) return undefined;
  const t = native.btf__type_by_id(btf, id);
  const info = decodeU32(t, 4);
  const vlen = info & 0xffff;
  const kflag = info >>> 31;
  const members = new Map<string, number>();
  for (let i = 0; i < vlen; i++) {
    const base = BTF_TYPE_HEADER + i * BTF_MEMBER;
    const memberName = native.btf__name_by_offset(btf, decodeU32(t, base)) as string;
    const bits = decodeU32(t, base + 8);
    members.set(memberName, (kflag ? bits & 0xffffff : bits) / 8);
  }
  return { size: decodeU32(t, 8), members };
}
