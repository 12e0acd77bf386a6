// Decoding of wire tensors {dtype, shape, data} into typed arrays: the one place that knows
// the binary layout (insight_widget/widget/wire.py writes it).

import type { WireTensor } from "./types";

export interface Decoded {
  shape: number[];
  values: Float32Array | Uint8Array | Int32Array;
}

const BYTES: Record<string, number> = { float32: 4, float16: 2, uint8: 1, int32: 4 };

function bytesOf(data: WireTensor["data"]): Uint8Array {
  if (data == null) throw new Error("wire tensor has no data buffer");
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** IEEE 754 half -> float, for every finite value, subnormals and infinities included. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

let HALF_TABLE: Float32Array | null = null;
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) HALF_TABLE[i] = halfToFloat(i);
  }
  return HALF_TABLE;
}

/** Decode a wire tensor. float16 comes back as float32 multiplied by its ``scale``. */
export function decodeTensor(wire: WireTensor): Decoded {
  const width = BYTES[wire.dtype];
  if (!width) throw new Error(`unsupported wire dtype ${wire.dtype}`);
  const count = wire.shape.reduce((a, b) => a * b, 1);
  let bytes = bytesOf(wire.data);
  if (bytes.byteLength !== count * width) {
    throw new Error(`wire tensor of shape [${wire.shape}] needs ${count * width} bytes, got ${bytes.byteLength}`);
  }
  // typed arrays need aligned offsets: copy when a host hands us an unaligned view
  if (bytes.byteOffset % width !== 0) bytes = bytes.slice();
  const { buffer, byteOffset } = bytes;
  switch (wire.dtype) {
    case "uint8":
      return { shape: wire.shape, values: new Uint8Array(buffer, byteOffset, count) };
    case "int32":
      return { shape: wire.shape, values: new Int32Array(buffer, byteOffset, count) };
    case "float32":
      return { shape: wire.shape, values: new Float32Array(buffer, byteOffset, count) };
    case "float16": {
      const halves = new Uint16Array(buffer, byteOffset, count);
      const table = halfTable();
      const scale = wire.scale ?? 1;
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = table[halves[i]] * scale;
      return { shape: wire.shape, values: out };
    }
  }
  throw new Error(`unsupported wire dtype ${wire.dtype}`);
}

/** Decoded float values (any dtype), cached per wire object so re-colouring never re-decodes. */
const cache = new WeakMap<object, Decoded>();
export function decodeCached(wire: WireTensor): Decoded {
  let decoded = cache.get(wire);
  if (!decoded) {
    decoded = decodeTensor(wire);
    cache.set(wire, decoded);
  }
  return decoded;
}

type Node = Record<string | number, unknown>;

/** Put binary buffers back at their paths (custom messages; see ``split_buffers``). */
export function restoreBuffers<T>(content: T, paths: (string | number)[][], buffers: (DataView | ArrayBuffer)[]): T {
  paths.forEach((path, i) => {
    let node = content as unknown as Node;
    for (let k = 0; k < path.length - 1; k++) node = node[path[k]] as Node;
    const buffer = buffers[i];
    node[path[path.length - 1]] = buffer instanceof DataView ? buffer : new DataView(buffer);
  });
  return content;
}

/** JSON with bytes as ``{"$bytes": base64}`` (export.py, server.py) back to ``DataView``s. */
export function reviveBytes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reviveBytes);
  if (value && typeof value === "object") {
    const bytes = (value as { $bytes?: unknown }).$bytes;
    if (typeof bytes === "string") {
      const text = atob(bytes);
      const out = new Uint8Array(text.length);
      for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
      return new DataView(out.buffer);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reviveBytes(v)]));
  }
  return value;
}
