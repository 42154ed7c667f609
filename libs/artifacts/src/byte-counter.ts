import { Transform, type TransformCallback } from 'node:stream';
import { artifactSizeMismatch } from './artifact-errors';

/**
 * Counts the bytes that pass through and, when the caller announced a length, fails the
 * stream as soon as the count can no longer match it (so a lying client cannot store more).
 */
export class ByteCounter extends Transform {
  bytes = 0;

  constructor(
    private readonly path: string,
    private readonly expected?: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expected !== undefined && this.bytes > this.expected) {
      callback(artifactSizeMismatch(this.path, this.expected, -1));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expected !== undefined && this.bytes !== this.expected) {
      callback(artifactSizeMismatch(this.path, this.expected, this.bytes));
      return;
    }
    callback();
  }
}
