/**
 * The snapshot backfill and export as a library: what `taskd snapshots import/export` run, for scripts
 * that load snapshots from their own sources (see scripts/backfill-example.ts).
 */
export { maxContentChars, maxMessages, maxPayloadBytes, trimForSnapshot, truncationPrefix } from "../AgentApi/Trim.ts"
export { type ExportFilter, exportSnapshots, type UnexportableSnapshot } from "./Export.ts"
export {
  decodeRecord,
  emptySummary,
  formatLocation,
  type ImportOptions,
  type ImportProgress,
  importSnapshots,
  importSources,
  type ImportSummary,
  type InvalidRecord,
  type RecordInput,
  type RecordLocation,
  SnapshotRecord,
  type SourceRecord
} from "./Import.ts"
export { type ConflictMode } from "./SnapshotRepo.ts"
export { directoryFiles, directoryRecords, ndjsonFile, ndjsonRecords, SourceError } from "./Sources.ts"
