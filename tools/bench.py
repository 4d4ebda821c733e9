"""`python -m editor bench`: our port against OpenVINO running the original IR, in one run, as ratios.

Timings alternate between the contenders in rounds so both see the same machine state; each figure
is the median of `--repeats` renders after warm-up. Targets live here, not in tests.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time

import torch

from editor.defaults import DEFAULT_PSI

TARGETS = {"ratio": 0.8}  # full render against OpenVINO at its best setting, each precision


def _openvino_runners(find_data):
    """OpenVINO's synthesis with its default precision (bf16 on AMX CPUs) and with f32 forced."""
    from editor.model.errors import CheckpointError
    try:
        import openvino as ov
        xml = str(find_data() / "SynthesisNetwork.xml")
    except (ImportError, CheckpointError, OSError):  # OpenVINO or the IR not installed here: ours alone
        return {}
    core = ov.Core()
    try:
        return _compile_both(core, xml)
    except RuntimeError as exc:  # seen: under ONEDNN_MAX_CPU_ISA=AVX2 on an AVX512 CPU, no deconvolution primitive
        print(f"OpenVINO could not compile the model here: {str(exc).strip().splitlines()[-1][:160]}", file=sys.stderr)
        return {}


def _compile_both(core, xml: str) -> dict:
    runners = {}
    for label, cfg in (("default", {}), ("f32", {"INFERENCE_PRECISION_HINT": "f32"})):
        compiled = core.compile_model(xml, "CPU", cfg)
        request = compiled.create_infer_request()
        runners[label] = request
    return runners


def measure(repeats: int = 10, device: str | None = None, emulated_too: bool = True) -> dict:
    from editor.model import load_generator
    from editor.model.convert_default import find_wheel_data
    from editor.model.device import cpu_class, cpu_flags, cpu_has_fast_bf16, cpu_model_name

    gen = load_generator(device=device)
    w = gen.mapping(gen.z_from_seed(1), psi=DEFAULT_PSI)
    ws = gen.broadcast(w)
    w_np = w.float().cpu().numpy()

    def sync():
        if gen.device.type == "cuda":
            torch.cuda.synchronize()

    # Both precisions, whatever the app chose here: fp32 and the reduced one this device would try.
    reduced = torch.float16 if gen.device.type == "cuda" else torch.bfloat16
    nets = {"fp32": (gen.net, torch.float32),
            "bf16" if reduced == torch.bfloat16 else "fp16":
                (gen._synth if gen.dtype == reduced else gen._make_reduced(reduced), reduced)}
    chosen = "fp32" if gen.dtype == torch.float32 else next(k for k, v in nets.items() if v[1] == gen.dtype)

    def ours(name, size=None):
        net, dtype = nets[name]
        return lambda: (gen._run(net, ws, "const", 1.0, size, dtype), sync())

    # A precision this CPU only emulates (bf16 without AMX/AVX512-BF16: seconds a render) is timed
    # once, full size only, so the table still shows what it would cost.
    emulated = gen.device.type == "cpu" and not cpu_has_fast_bf16()
    if emulated and not emulated_too:
        nets = {"fp32": nets["fp32"]}
    ours_only = {}
    for name in nets:
        ours_only[f"{name}_full"] = ours(name)
        for size in gen.preview_sizes if not (emulated and name != "fp32") else ():
            ours_only[f"{name}_preview{size}"] = ours(name, size)
    times: dict[str, list[float]] = {}
    for name in [k for k in ours_only if emulated and not k.startswith("fp32")]:
        fn = ours_only.pop(name)
        fn()  # warm-up (oneDNN's first emulated-bf16 call is far slower still)
        times[name] = [_once(fn)]
    theirs, rss_ours = {}, None
    # Rounds of blocks rather than strict alternation: OpenVINO's worker threads keep spinning for a
    # moment after a call and would steal the cores from whatever runs next. A pause separates them.
    rounds = 3
    for r in range(rounds):
        for name, fn in {**ours_only, **theirs}.items():
            time.sleep(0.3)
            fn(), fn()  # warm-up
            times.setdefault(name, []).extend(_once(fn) for _ in range(max(1, repeats // rounds)))
        if r == 0:
            rss_ours = _peak_rss_mb()  # before OpenVINO is loaded into the process
            runners = _openvino_runners(find_wheel_data) if gen.device.type == "cpu" else {}
            theirs = {f"openvino_{k}": (lambda r=r: r.infer({0: w_np})) for k, r in runners.items()}
            for name, fn in theirs.items():
                time.sleep(0.3)
                fn(), fn()
                times.setdefault(name, []).extend(_once(fn) for _ in range(max(1, repeats // rounds)))
    med = {k: statistics.median(v) for k, v in times.items()}
    flags = cpu_flags()
    result = {"device": str(gen.device), "dtype": str(gen.dtype).removeprefix("torch."), "precision": chosen,
              "precision_psnr_db": None if gen.precision_check_db is None else round(gen.precision_check_db, 2),
              "cpu_class": cpu_class() if gen.device.type == "cpu" else None,
              "cpu_flags": {k: flags[k] for k in ("amx", "avx512_bf16", "avx2")},
              "onednn_max_cpu_isa": flags["onednn_max_cpu_isa"],
              "torch_ms": round(med[f"{chosen}_full"], 1),
              "ms": {k: round(v, 1) for k, v in med.items() if not k.startswith("openvino_")},
              "preview_fidelity_db": gen.preview_fidelity, "trusted_preview_sizes": list(gen.trusted_preview_sizes),
              "exact_sizes": list(gen.exact_sizes),
              "rss_mb": rss_ours, "rss_with_openvino_mb": _peak_rss_mb(),
              "threads": torch.get_num_threads(), "cpu": cpu_model_name()}
    for size in gen.preview_sizes:
        result[f"preview{size}_ms"] = round(med[f"{chosen}_preview{size}"], 1)
    ov = {k.removeprefix("openvino_"): v for k, v in med.items() if k.startswith("openvino_")}
    if ov:
        best = min(ov, key=ov.get)  # compare against OpenVINO at its fastest setting
        ref = ov[best]
        result.update({"openvino_ms": round(ref, 1), "openvino_setting": best,
                       "openvino_default_ms": round(ov["default"], 1), "openvino_f32_ms": round(ov["f32"], 1),
                       "ratio": round(med[f"{chosen}_full"] / ref, 3),
                       "ratios": {k: round(v / ref, 3) for k, v in result["ms"].items()}})
        for size in gen.preview_sizes:
            result[f"preview{size}_ratio"] = round(result[f"preview{size}_ms"] / ref, 3)
    else:
        result.update({"openvino_ms": None, "ratio": None, "ratios": None})
    return result


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def _once(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


# NVIDIA's official StyleGAN3 configs (train.py --cfg=stylegan3-t / -r at --cbase=32768 --cmax=512).
SG3_CONFIGS = {"t": dict(channel_base=32768, channel_max=512),
               "r": dict(channel_base=65536, channel_max=1024, conv_kernel=1, use_radial_filters=True)}


def measure_stylegan3(sizes=(256, 1024), config: str = "t", repeats: int = 1, device: str | None = None) -> dict:
    """Time of one full render of a StyleGAN3 at each size, with random weights in the official config's
    shapes (no StyleGAN3 weights ship with the editor; the cost depends on shapes only): fp32 on a CPU
    (channels-last, as Generator runs it), fp32 and fp16 on a GPU. On a CPU below 1024² a warm-up render
    comes first and the median of `repeats` counts; at 1024² (a minute or more on two cores) one render is
    timed, set-up included. On a GPU, the median of 10 after 3 warm-ups."""
    from editor.model.device import choose_device, keep_freed_memory
    from editor.model.stylegan3 import StyleGAN3
    dev = choose_device(device)
    gpu = dev.type != "cpu"
    keep_freed_memory()  # as the app does at start-up: without it a 1024² render spends ~half its time page-faulting
    out = {"config": f"stylegan3-{config}", "weights": "random (official config shapes)", "device": str(dev),
           "threads": torch.get_num_threads(), "ms": {}}
    if gpu:
        out["ms_fp16"] = {}

    def timed(net, ws, runs):
        def one():
            net.synthesis(ws)
            if dev.type == "cuda":
                torch.cuda.synchronize()
        return [_once(one) for _ in range(runs)]

    for size in sizes:
        torch.manual_seed(0)
        net = StyleGAN3(z_dim=512, w_dim=512, img_resolution=size, **SG3_CONFIGS[config]).eval()
        net = net.requires_grad_(False).to(dev)
        net = net if gpu else net.to(memory_format=torch.channels_last)
        with torch.inference_mode():
            ws = net.mapping(torch.randn(1, 512, device=dev))[:, None].expand(-1, net.num_ws, -1)
            if gpu:
                out["ms"][size] = round(statistics.median(timed(net, ws, 13)[3:]), 1)
                reference = net.synthesis(ws).float()
                half = net.half()
                out["ms_fp16"][size] = round(statistics.median(timed(half, ws.half(), 13)[3:]), 1)
                from editor.model.fidelity import psnr_db
                out.setdefault("fp16_psnr_db", {})[size] = round(psnr_db(half.synthesis(ws.half()).float(), reference), 1)
            else:
                runs = 1 if size >= 1024 else 1 + max(1, repeats)
                times = timed(net, ws, runs)
                out["ms"][size] = round(statistics.median(times[1:] or times), 1)
        del net
    out["rss_mb"] = _peak_rss_mb()
    return out


def run_bench(args) -> int:
    if getattr(args, "stylegan3", None):
        result = measure_stylegan3(config=args.stylegan3, repeats=min(args.repeats, 3), device=args.device)
        if args.json:
            print(json.dumps(result))
            return 0
        where = f"CPU, {result['threads']} threads" if result["device"] == "cpu" else result["device"]
        for size, ms in result["ms"].items():
            fp16 = result.get("ms_fp16", {}).get(size)
            print(f"{size}² {result['config']} full render, fp32 {where}: {ms / 1000:.3f} s"
                  + (f", fp16 {fp16 / 1000:.3f} s" if fp16 is not None else "") + f" ({result['weights']})")
        print(f"peak RSS {result['rss_mb']} MB")
        return 0
    result = measure(repeats=args.repeats, device=args.device, emulated_too=not args.no_emulated)
    if args.json:
        print(json.dumps(result))
        return 0
    ref = result["openvino_ms"]
    flags = ", ".join(k for k, v in result["cpu_flags"].items() if v) or "none of amx/avx512_bf16/avx2"
    cap = f", oneDNN capped at {result['onednn_max_cpu_isa']}" if result["onednn_max_cpu_isa"] else ""
    print(f"device {result['device']} ({result['cpu']}; class {result['cpu_class']}: {flags}{cap}), "
          f"threads {result['threads']}")
    db = result["precision_psnr_db"]
    why = (f"reduced-precision render vs fp32: {db} dB" if db is not None else
           "reduced precision not tried: fp32 forced, or this CPU only emulates bf16")
    print(f"precision chosen: {result['precision']} ({why})")
    print(f"{'render':<24}{'ms (median)':>12}{'x OpenVINO':>12}{'target':>9}")
    for key, ms in result["ms"].items():
        prec, _, what = key.partition("_")
        size = what.replace("preview", "")
        kind = "exact" if size.isdigit() and int(size) in result["exact_sizes"] else "preview"
        label = f"{'1024² full' if what == 'full' else size + '² ' + kind} {prec}"
        ratio = "n/a" if ref is None else f"{ms / ref:.2f}"
        target = f"<= {TARGETS['ratio']}" if what == "full" else ""
        print(f"{label:<24}{ms:>12.1f}{ratio:>12}{target:>9}")
    if ref is None:
        print("OpenVINO not available here (not installed: `pip install openvino`; or it could not compile the "
              "model, said above): no ratios", file=sys.stderr)
    else:
        print(f"{'1024² OpenVINO':<24}{ref:>12.1f}{1.0:>12.2f}   ({result['openvino_setting']}; "
              f"default {result['openvino_default_ms']} ms, f32 {result['openvino_f32_ms']} ms)")
    fid = result["preview_fidelity_db"] or {}
    for size, v in fid.items():
        if int(size) in result["exact_sizes"]:
            print(f"{size}²: exact, the full render's own area-downsample (its approximate preview: {v['min']} dB "
                  f"worst, never used) -> used while dragging when the face is shown at most 1.5x larger")
            continue
        used = "used while dragging" if int(size) in result["trusted_preview_sizes"] else \
            "NOT used (drags render exact or full frames)"
        print(f"preview {size}²: {v['min']} dB worst, {v['mean']} dB mean vs the full render -> {used}")
    print(f"peak RSS {result['rss_mb']} MB for our port (process peak with OpenVINO loaded too: "
          f"{result['rss_with_openvino_mb']} MB)")
    return 0


if __name__ == "__main__":  # python -m tools.bench: the same command as `python -m editor bench`
    import sys

    from editor.cli import main
    sys.exit(main(["bench", *sys.argv[1:]]))
