// A typedoc plugin: gives every export of the root module (`ckpt`) its
// category in the API reference, from the table below, so the reference reads
// by what a user is doing (Checkpointer, Providers, Stores, …) instead of one
// flat list. A root export missing from the table fails `npm run docs`, and
// so does a table entry that is no longer exported: the grouping cannot rot.
import { Comment, CommentTag, Converter } from 'typedoc';

/** Category → the root exports in it. docs/api-map.md shows the same groups. */
export const CATEGORIES = {
  Checkpointer: [
    'Checkpointer', 'CheckpointerOptions', 'CheckpointOptions', 'CompressionOptions', 'LoopOptions', 'UnregisteredResourcesMode',
    'SafepointResult', 'PersistMode', 'IncrementalOptions', 'SignalOptions', 'everySeconds', 'everySteps', 'EveryOptions',
    'TriggerPolicy', 'CheckpointInfo', 'ImageInfo', 'RestoreResult', 'SkippedImage', 'MigrationRecord',
    'PlanOptions', 'RestorePlan', 'ProviderPlan', 'MetaValue', 'ReadLimits', 'LIBRARY_VERSION',
    'EncryptionOptions', 'EncryptionCommon', 'KeyringEncryption', 'PassphraseEncryption', 'KmsEncryption', 'KmsHooks', 'KmsContext', 'KmsWrapped', 'ScryptParams',
  ],
  Providers: [
    'Provider', 'Resource', 'Migration', 'CheckpointContext', 'ResumeContext', 'RestoreContext',
    'MigrationContext', 'ProviderInfo',
  ],
  Stores: ['FsStore', 'FsStoreOptions', 'FsStoreHooks', 'FsStoreStep', 'MemoryStore', 'MemoryStoreOptions', 'Store', 'ReadStore', 'WriteStore', 'StoreEntry', 'ImageSink', 'ImageSource', 'WriterLock', 'AcquireOptions'],
  Retention: [
    'keepLast', 'keepEverySteps', 'keepEverySeconds', 'keepLabelled', 'RetentionOptions', 'RetentionPolicy',
    'planRetention', 'explainDecision', 'PlanRetentionOptions', 'RefsOf', 'RetentionAction', 'KeepReason', 'RetentionDecision', 'RetentionPlan', 'DanglingReference',
    'compactImage', 'CompactOptions', 'CompactReport',
  ],
  Events: [
    'CheckpointerEvents', 'CheckpointerListener', 'CkptWarning', 'WarningCode', 'WarningCodes',
    'CheckpointChannelMessage', 'CheckpointStartMessage', 'CheckpointEndMessage', 'RestoreChannelMessage',
    'RestoreStartMessage', 'RestoreEndMessage', 'ErrorMessage',
  ],
  Groups: [
    'CheckpointGroup', 'CheckpointGroupOptions', 'CheckpointGroupEvents', 'GroupCheckpointInfo', 'GroupRunResult',
    'joinGroup', 'GroupParticipant', 'GroupLoopOptions', 'GroupSafepointResult', 'GroupChannel', 'ChannelMessage', 'GroupProvider',
    'shardRange', 'partOfKey', 'keyGroupOf', 'DEFAULT_KEY_GROUPS', 'ShardSpec', 'RangeShard', 'KeyedShard', 'ShardRange', 'ShardRestoreInfo',
  ],
  Errors: ['CkptError', 'ErrorCodes', 'ErrorCode', 'isCkptError', 'CkptErrorDetails', 'CkptErrorOptions'],
};

const ROOT_MODULE = 'ckpt';

/** @param {import('typedoc').Application} app */
export function load(app) {
  const categoryOf = new Map();
  for (const [category, names] of Object.entries(CATEGORIES)) for (const n of names) categoryOf.set(n, category);

  // After the comment plugin named the modules (@module), before the category plugin (priority -200) sorts.
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    const root = context.project.children?.find((c) => c.name === ROOT_MODULE || c.name === 'index');
    if (root === undefined) {
      app.logger.error(`typedoc-categories: no module named ${ROOT_MODULE}; is src/index.ts an entry point with @module ${ROOT_MODULE}?`);
      return;
    }
    root.name = ROOT_MODULE; // the package's name, not the file's
    const seen = new Set();
    for (const child of root.children ?? []) {
      seen.add(child.name);
      const category = categoryOf.get(child.name);
      if (category === undefined) {
        app.logger.error(`typedoc-categories: the root export ${child.name} has no category; add it to CATEGORIES in scripts/typedoc-categories.mjs (and to docs/api-map.md), or export it from ckpt/format or ckpt/testing if apps do not need it`);
        continue;
      }
      child.comment ??= new Comment();
      child.comment.removeTags('@category');
      child.comment.blockTags.push(new CommentTag('@category', [{ kind: 'text', text: category }]));
    }
    for (const name of categoryOf.keys()) {
      if (!seen.has(name)) app.logger.error(`typedoc-categories: ${name} is listed in CATEGORIES but is not a root export; remove it from scripts/typedoc-categories.mjs`);
    }
  }, 100);
}
