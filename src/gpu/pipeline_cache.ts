/**
 * Bounded cache of compute pipelines keyed by what the shader text depends on
 * (file, entry point, `#if` switches, override constants). Least recently
 * used pipelines are dropped past the bound.
 */
import {
  formatCompilationMessages,
  type KernelSpec,
  pipelineKey,
  specializeWithLines,
} from "./shader.ts";

export interface PipelineCacheStats {
  size: number;
  hits: number;
  misses: number;
  evictions: number;
}

export class PipelineCache {
  #entries = new Map<string, GPUComputePipeline>();
  #stats = { hits: 0, misses: 0, evictions: 0 };
  /** Compile errors found asynchronously, thrown at the next flush. */
  readonly compileErrors: string[] = [];
  /** Prints every specialized shader when set (MPFNET_DEBUG_SHADERS=1). */
  printShaders = false;

  constructor(private readonly device: GPUDevice, public maxEntries = 1024) {}

  get(spec: KernelSpec): GPUComputePipeline {
    const key = pipelineKey(spec);
    const found = this.#entries.get(key);
    if (found) {
      this.#stats.hits++;
      this.#entries.delete(key);
      this.#entries.set(key, found);
      return found;
    }
    this.#stats.misses++;
    const pipeline = this.#compile(spec);
    this.#entries.set(key, pipeline);
    if (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
      this.#stats.evictions++;
    }
    return pipeline;
  }

  /** Compiles a kernel and resolves with its error text, or null when valid. */
  async check(spec: KernelSpec): Promise<string | null> {
    const { code, sourceLines } = specializeWithLines(spec);
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ code, label: spec.file });
    const info = await module.getCompilationInfo();
    const scopeError = await this.device.popErrorScope();
    const text = formatCompilationMessages(spec, info.messages, sourceLines);
    if (text.length > 0) return text;
    return scopeError ? `${spec.file}: ${scopeError.message.trim()}` : null;
  }

  #compile(spec: KernelSpec): GPUComputePipeline {
    const { code, sourceLines } = specializeWithLines(spec);
    if (this.printShaders) {
      console.error(
        `// ---- ${spec.file} ${JSON.stringify(spec.defines ?? {})}\n${code}`,
      );
    }
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ code, label: spec.file });
    const pipeline = this.device.createComputePipeline({
      label: spec.file,
      layout: "auto",
      compute: {
        module,
        entryPoint: spec.entryPoint ?? "main",
        constants: spec.constants,
      },
    });
    const errors = this.compileErrors;
    module.getCompilationInfo().then((info) => {
      const text = formatCompilationMessages(spec, info.messages, sourceLines);
      if (text.length > 0) errors.push(text);
    });
    this.device.popErrorScope().then((error) => {
      if (error) errors.push(`${spec.file}: ${error.message.trim()}`);
    });
    return pipeline;
  }

  stats(): PipelineCacheStats {
    return { size: this.#entries.size, ...this.#stats };
  }
}
