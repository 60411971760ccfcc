/**
 * @module ckpt
 *
 * Application-level checkpoint/restart for long-running Node.js programs.
 * What an application needs: the {@link Checkpointer} facade, the provider
 * and resource contracts, stores, retention policies, events and
 * {@link CkptError}. Reading, verifying and converting image files (for
 * tools) is in `ckpt/format`; the store conformance suite, migration test
 * helpers and the filesystem layer tests inject faults through are in
 * `ckpt/testing`. Everything not exported from these three is internal.
 * The API map (docs/api-map.md) lists the exports by group.
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
export type { FsStoreHooks, FsStoreStep } from './store/fs-hooks.js';
export { MemoryStore } from './store/memory-store.js';
export type { MemoryStoreOptions } from './store/memory-store.js';
export type { AcquireOptions, ImageSink, ImageSource, ReadStore, Store, StoreEntry, WriteStore, WriterLock } from './store/store.js';
export { keepEverySeconds, keepEverySteps, keepLabelled, keepLast } from './retention/policy.js';
export type { RetentionOptions, RetentionPolicy } from './retention/policy.js';
export { explainDecision, planRetention } from './retention/plan.js';
export type { DanglingReference, KeepReason, PlanRetentionOptions, RefsOf, RetentionAction, RetentionDecision, RetentionPlan } from './retention/plan.js';
export { compactImage } from './retention/compact.js';
export type { CompactOptions, CompactReport } from './retention/compact.js';
export type { ReadLimits } from './image/reader.js';
export type { MetaValue } from './image/index-model.js';
export type { PlanOptions, ProviderPlan, RestorePlan } from './convert/plan.js';
export { CheckpointGroup } from './group/checkpoint-group.js';
export type { CheckpointGroupEvents, CheckpointGroupOptions, GroupCheckpointInfo, GroupRunResult } from './group/checkpoint-group.js';
export { joinGroup } from './group/participant.js';
export type { ChannelMessage, GroupChannel } from './group/channel.js';
export type { GroupLoopOptions, GroupParticipant, GroupProvider, GroupSafepointResult } from './group/participant.js';
export { DEFAULT_KEY_GROUPS, keyGroupOf, partOfKey, shardRange } from './group/shard.js';
export type { KeyedShard, RangeShard, ShardRange, ShardRestoreInfo, ShardSpec } from './group/shard.js';
export { LIBRARY_VERSION } from './version.js';
export type { IncrementalOptions } from './options.js';
export type { EncryptionCommon, EncryptionOptions, KeyringEncryption, KmsContext, KmsEncryption, KmsHooks, KmsWrapped, PassphraseEncryption, ScryptParams } from './crypto/keys.js';
