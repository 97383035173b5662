// User-space symbolization and the pprof writer: what the memleak probe and its exporters use.
export { Symbolizer } from './symbolizer.ts';
export type { SymbolizerOptions, SymbolizeOptions, SymbolizerStats } from './symbolizer.ts';
export { readProcessMaps, parseMaps, findMapping } from './maps.ts';
export type { Mapping, ProcessMaps } from './maps.ts';
export { formatFrameSeed, formatFrameStacktrace } from './frame.ts';
export type { Frame } from './frame.ts';
export { writePprof, encodePprof } from './pprof.ts';
export type { PprofSample, PprofMapping, PprofOptions } from './pprof.ts';
