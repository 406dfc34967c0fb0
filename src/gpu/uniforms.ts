/**
 * Uniform buffer layout with the WGSL alignment rules for the uniform
 * address space: scalars align to 4 bytes, vec2 to 8, vec3 and vec4 to 16,
 * and the struct size is rounded up to 16 bytes. Every kernel's parameters are
 * packed here, so the rules live in one place.
 */

export type UniformType =
  | "u32"
  | "i32"
  | "f32"
  | "vec2<u32>"
  | "vec2<i32>"
  | "vec2<f32>"
  | "vec4<u32>"
  | "vec4<i32>"
  | "vec4<f32>"
  /** WGSL `array<vec4<u32>, 2>`: eight u32 values, e.g. a shape up to rank 8. */
  | "array<vec4<u32>,2>"
  | "array<vec4<i32>,2>";

interface FieldLayout {
  name: string;
  type: UniformType;
  offset: number;
  components: number;
  scalar: "u32" | "i32" | "f32";
}

function scalarOf(type: UniformType): "u32" | "i32" | "f32" {
  if (type.includes("u32")) return "u32";
  if (type.includes("i32")) return "i32";
  return "f32";
}

function componentsOf(type: UniformType): number {
  if (type.startsWith("array")) return 8;
  if (type.startsWith("vec2")) return 2;
  if (type.startsWith("vec4")) return 4;
  return 1;
}

/** A uniform struct layout built once per kernel from its field list. */
export class UniformLayout {
  readonly fields: FieldLayout[] = [];
  readonly byteSize: number;

  constructor(fields: [name: string, type: UniformType][]) {
    let offset = 0;
    for (const [name, type] of fields) {
      const components = componentsOf(type);
      let align = 16;
      if (components === 1) align = 4;
      if (components === 2) align = 8;
      // Arrays of vec4 have a 16-byte stride, so 8 components take 32 bytes.
      offset = Math.ceil(offset / align) * align;
      this.fields.push({
        name,
        type,
        offset,
        components,
        scalar: scalarOf(type),
      });
      offset += components * 4;
    }
    this.byteSize = Math.max(16, Math.ceil(offset / 16) * 16);
  }

  /** Packs values by field name; a vector field takes a number array. */
  pack(
    values: Record<string, number | readonly number[]>,
  ): Uint8Array<ArrayBuffer> {
    const bytes = new ArrayBuffer(this.byteSize);
    const view = new DataView(bytes);
    for (const field of this.fields) {
      const value = values[field.name];
      if (value === undefined) {
        throw new Error(
          `Uniform field '${field.name}' (${field.type}) has no value`,
        );
      }
      let items = typeof value === "number" ? [value] : value;
      // Array fields take shorter lists (a shape of rank < 8), zero padded.
      if (field.components === 8 && items.length < 8) {
        items = [...items, ...new Array(8 - items.length).fill(0)];
      }
      if (items.length !== field.components) {
        throw new Error(
          `Uniform field '${field.name}' is ${field.type} but got ${items.length} values`,
        );
      }
      for (let i = 0; i < items.length; i++) {
        const at = field.offset + 4 * i;
        const item = items[i];
        if (field.scalar === "f32") {
          view.setFloat32(at, item, true);
        } else if (field.scalar === "u32") {
          if (!Number.isInteger(item) || item < 0 || item > 0xffffffff) {
            throw new Error(
              `Uniform field '${field.name}' must be a u32, got ${item}`,
            );
          }
          view.setUint32(at, item, true);
        } else {
          if (
            !Number.isInteger(item) || item < -0x80000000 || item > 0x7fffffff
          ) {
            throw new Error(
              `Uniform field '${field.name}' must be an i32, got ${item}`,
            );
          }
          view.setInt32(at, item, true);
        }
      }
    }
    return new Uint8Array(bytes);
  }
}
