/**
 * @module ckpt
 *
 * Application-level checkpoint/restart for long-running Node.js programs.
 * The public surface: the {@link Checkpointer} facade, the provider and
 * resource contracts, stores, retention policies, image reading for tools,
 * and {@link CkptError}. Everything not exported here is internal.
 */
export { Checkpointer } from './checkpointer.js';
export type {
  CheckpointerListener,
  CheckpointerOptions,
  CheckpointOptions,
  CompressionOptions,
  LoopOptions,
  SafepointResult,
} from './checkpointer.js';
export type { PersistMode } from './lifecycle/checkpoint-run.js';
export { everySeconds, everySteps } from './lifecycle/policies.js';
export type { EveryOptions, TriggerPolicy } from './lifecycle/policies.js';
export type { SignalOptions } from './lifecycle/signals.js';
export type { UnregisteredResourcesMode } from './lifecycle/open-resources.js';
export type {
  CheckpointContext,
  Migration,
  MigrationContext,
  Provider,
  Resource,
  RestoreContext,
  ResumeContext,
} from './provider/provider.js';
export type {
  CheckpointInfo,
  ImageInfo,
  MigrationRecord,
  ProviderInfo,
  RestoreResult,
  SkippedImage,
} from './info.js';
export { WarningCodes } from './events.js';
export type {
  CheckpointEndMessage,
  CheckpointerEvents,
  CheckpointChannelMessage,
  CheckpointStartMessage,
  CkptWarning,
  ErrorMessage,
  RestoreChannelMessage,
  RestoreEndMessage,
  RestoreStartMessage,
  WarningCode,
} from './events.js';
export { CkptError, ErrorCodes, isCkptError } from './errors.js';
export type { CkptErrorDetails, CkptErrorOptions, ErrorCode } from './errors.js';
export { FsStore } from './store/fs-store.js';
export type { FsStoreOptions } from './store/fs-store.js';
export { nodeFsOps } from './store/fs-ops.js';
export type { FsFile, FsOpenMode, FsOps, FsStat } from './store/fs-ops.js';
export { MemoryStore } from './store/memory-store.js';
export type { MemoryStoreOptions } from './store/memory-store.js';
export type { AcquireOptions, ImageSink, ImageSource, Store, StoreEntry, WriterLock } from './store/store.js';
export { keepEverySeconds, keepEverySteps, keepLabelled, keepLast } from './retention/policy.js';
export type { RetentionOptions, RetentionPolicy } from './retention/policy.js';
export { ImageReader, placeholderClassLookup } from './image/reader.js';
export type {
  ProviderSummary,
  RawProviderData,
  ReadLimits,
  ReadProviderOptions,
  VerifyProblem,
  VerifyReport,
} from './image/reader.js';
export { openImage, openImageFile } from './image/open.js';
export type { ImageHeader } from './image/header.js';
export type { BlobEntry, CodecSettings, ProviderEntry, SegmentBase, SegmentRun } from './image/index-common.js';
export type { ImageIndex, Manifest, MetaValue, SegmentEntry } from './image/index-model.js';
export type { SegmentCodecId } from './image/constants.js';
export type { BinaryKindCode } from './codec/types.js';
export type { ClassLookup } from './codec/types.js';
export { FORMAT_VERSION } from './image/constants.js';
export { convertImageFile } from './convert/convert-image.js';
export type { ConvertOptions, ConvertReport } from './convert/convert-image.js';
export { READABLE_FORMAT_VERSIONS, WRITABLE_FORMAT_VERSIONS } from './convert/index-chain.js';
export type { PlanOptions, ProviderPlan, RestorePlan } from './convert/plan.js';
export { LIBRARY_VERSION } from './version.js';
