/**
 * @module ckpt/s3
 *
 * Checkpoints in an S3 bucket (AWS S3 and compatible servers), so a job can
 * restart on another machine: {@link S3Store}. A subpath of its own because
 * it needs the AWS SDK (`@aws-sdk/client-s3`, an optional peer dependency);
 * the root `ckpt` module never loads it. See `docs/s3.md`.
 */
export { S3Store } from './s3-store.js';
export type { ConditionalWrites, S3StoreOptions } from './s3-store.js';
