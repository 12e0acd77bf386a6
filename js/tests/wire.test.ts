import { describe, expect, it } from "vitest";
import { decodeTensor, halfToFloat, restoreBuffers } from "../src/wire";

function half(values: number[]): DataView {
  // encode with the browser's own float16 rounding via Float32 -> manual conversion
  const out = new Uint16Array(values.length);
  values.forEach((v, i) => {
    const f = new Float32Array([v]);
    const bits = new Uint32Array(f.buffer)[0];
    const sign = (bits >>> 16) & 0x8000;
    const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
    const mantissa = (bits >>> 13) & 0x3ff;
    out[i] = v === 0 ? sign : sign | (exponent << 10) | mantissa;
  });
  return new DataView(out.buffer);
}

describe("wire decoding", () => {
  it("decodes float32 with its shape", () => {
    const data = new DataView(new Float32Array([1.5, -2, 3, 4]).buffer);
    const decoded = decodeTensor({ dtype: "float32", shape: [2, 2], data });
    expect(decoded.shape).toEqual([2, 2]);
    expect(Array.from(decoded.values)).toEqual([1.5, -2, 3, 4]);
  });

  it("decodes scaled float16 back to the original magnitude", () => {
    const decoded = decodeTensor({ dtype: "float16", shape: [3], data: half([-1, 0.5, 1]), scale: 1e-7 });
    expect(Array.from(decoded.values).map((v) => v / 1e-7)).toEqual([-1, 0.5, 1].map((v) => expect.closeTo(v, 3)));
  });

  it("converts every half-precision class: normal, subnormal, infinity, NaN", () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x0001)).toBeCloseTo(5.96e-8, 10);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true);
  });

  it("respects the byte offset of a DataView and copies when it is unaligned", () => {
    const bytes = new Uint8Array(1 + 8);
    new DataView(bytes.buffer).setFloat32(1, 7, true);
    new DataView(bytes.buffer).setFloat32(5, -3, true);
    const decoded = decodeTensor({ dtype: "float32", shape: [2], data: new DataView(bytes.buffer, 1, 8) });
    expect(Array.from(decoded.values)).toEqual([7, -3]);
  });

  it("rejects a buffer whose size does not match the shape", () => {
    const data = new DataView(new Uint8Array(3).buffer);
    expect(() => decodeTensor({ dtype: "uint8", shape: [2, 2], data })).toThrow(/needs 4 bytes, got 3/);
  });

  it("puts message buffers back at their paths", () => {
    const message = { example: { inputs: [{ original: { data: null } }] } };
    const buffer = new DataView(new Uint8Array([1, 2]).buffer);
    const restored = restoreBuffers(message, [["example", "inputs", 0, "original", "data"]], [buffer]);
    expect(restored.example.inputs[0].original.data).toBe(buffer);
  });
});
