/**
 * The push interface between fused timed operators (internal): records as
 * `(value, timestamp)` pairs and watermarks as plain numbers, so a fused
 * chain allocates nothing per event.
 *
 * @internal
 * @module
 */
export interface TimedSink<T> {
  record(value: T, timestamp: number): void;
  watermark(watermark: number): void;
  error(err: unknown): void;
  complete(): void;
}
