/**
 * @module bench/lib/s3/uploads
 *
 * The multipart uploads in progress, as the front tracks them (s3rver keeps
 * them on disk but cannot list or abort them): what ListMultipartUploads
 * answers, and what lets the front refuse UploadPart / Complete / Abort for an
 * upload that does not exist or belongs to another key (S3's 404
 * NoSuchUpload — s3rver would accept parts for any id and complete an upload
 * into the key it was started for, whatever the URL says).
 */
import { xmlText } from './protocol.js';

/** One multipart upload in progress. */
export interface Upload {
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
  /** When it was started (ms since the epoch); tests may backdate it. */
  initiated: number;
}

/** Options of ListMultipartUploads (the query parameters S3 defines). */
export interface ListUploadsQuery {
  readonly prefix: string;
  readonly keyMarker: string;
  readonly uploadIdMarker: string;
  readonly maxUploads: number;
}

/** The uploads in progress, by id. */
export class UploadTable {
  readonly #uploads = new Map<string, Upload>();

  add(u: Upload): void {
    this.#uploads.set(u.uploadId, u);
  }

  get(uploadId: string): Upload | undefined {
    return this.#uploads.get(uploadId);
  }

  remove(uploadId: string): void {
    this.#uploads.delete(uploadId);
  }

  /** Move every upload's start `ms` into the past (to test age-based cleanup). */
  backdate(ms: number): void {
    for (const u of this.#uploads.values()) u.initiated -= ms;
  }

  /** Uploads of `bucket` under `prefix`, sorted by key then start, after the markers: one page. */
  list(bucket: string, q: ListUploadsQuery): { uploads: Upload[]; truncated: boolean } {
    const all = [...this.#uploads.values()]
      .filter((u) => u.bucket === bucket && u.key.startsWith(q.prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated - b.initiated || (a.uploadId < b.uploadId ? -1 : 1)));
    let from = 0;
    if (q.keyMarker !== '') {
      if (q.uploadIdMarker !== '') {
        const at = all.findIndex((u) => u.key === q.keyMarker && u.uploadId === q.uploadIdMarker);
        from = at >= 0 ? at + 1 : all.findIndex((u) => u.key > q.keyMarker);
      } else {
        from = all.findIndex((u) => u.key > q.keyMarker);
      }
      if (from < 0) from = all.length;
    }
    const page = all.slice(from, from + q.maxUploads);
    return { uploads: page, truncated: from + page.length < all.length };
  }
}

/** ListMultipartUploadsResult XML for one page. */
export function listUploadsXml(bucket: string, q: ListUploadsQuery, page: { uploads: Upload[]; truncated: boolean }): string {
  const last = page.uploads.at(-1);
  const owner = '<ID>local</ID><DisplayName>local</DisplayName>';
  const items = page.uploads
    .map(
      (u) =>
        `<Upload><Key>${xmlText(u.key)}</Key><UploadId>${xmlText(u.uploadId)}</UploadId>` +
        `<Initiator>${owner}</Initiator><Owner>${owner}</Owner><StorageClass>STANDARD</StorageClass>` +
        `<Initiated>${new Date(u.initiated).toISOString()}</Initiated></Upload>`,
    )
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
    `<Bucket>${xmlText(bucket)}</Bucket><KeyMarker>${xmlText(q.keyMarker)}</KeyMarker>` +
    `<UploadIdMarker>${xmlText(q.uploadIdMarker)}</UploadIdMarker>` +
    (page.truncated && last !== undefined
      ? `<NextKeyMarker>${xmlText(last.key)}</NextKeyMarker><NextUploadIdMarker>${xmlText(last.uploadId)}</NextUploadIdMarker>`
      : '') +
    `<Prefix>${xmlText(q.prefix)}</Prefix><MaxUploads>${q.maxUploads}</MaxUploads>` +
    `<IsTruncated>${page.truncated}</IsTruncated>${items}</ListMultipartUploadsResult>`
  );
}
