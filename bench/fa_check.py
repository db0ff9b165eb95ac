"""Does the flash-attn we built compute attention? Compare flash_attn_func with PyTorch SDPA on the GPU.

bf16 inputs; the reference is SDPA on the same inputs upcast to float32. SDPA in bf16 is shown beside it, so the
flash-attn error can be judged against what PyTorch's own bf16 kernels give. Run on the device machine.
"""

from __future__ import annotations

import json
import sys

import flash_attn
import torch
import torch.nn.functional as F
from flash_attn import flash_attn_func


def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    # flash-attn layout is (batch, seqlen, heads, dim); SDPA wants (batch, heads, seqlen, dim)
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal)
    return out.transpose(1, 2)


def main() -> int:
    torch.manual_seed(0)
    dev = torch.device("cuda")
    print("flash_attn", flash_attn.__version__, "from", flash_attn.__file__)
    print("torch", torch.__version__, "gpu", torch.cuda.get_device_name(), torch.cuda.get_device_capability())
    rows = []
    shapes = [(2, 128, 8, 64), (1, 1024, 16, 128), (2, 512, 8, 256), (4, 333, 4, 96)]
    ok = True
    for b, s, h, d in shapes:
        for causal in (False, True):
            q, k, v = (torch.randn(b, s, h, d, device=dev, dtype=torch.bfloat16) for _ in range(3))
            out = flash_attn_func(q, k, v, causal=causal)
            ref = sdpa(q.float(), k.float(), v.float(), causal)
            bf = sdpa(q, k, v, causal)
            fa_err = (out.float() - ref).abs().max().item()
            sdpa_err = (bf.float() - ref).abs().max().item()
            rel = ((out.float() - ref).norm() / ref.norm()).item()
            good = bool(torch.isfinite(out).all()) and fa_err <= max(2 * sdpa_err, 1e-2)
            ok &= good
            rows.append({"shape": [b, s, h, d], "causal": causal, "fa_max_abs": fa_err,
                         "sdpa_bf16_max_abs": sdpa_err, "fa_rel_l2": rel, "ok": good})
            print(f"B={b} S={s} H={h} D={d} causal={causal!s:5} |fa-ref|max={fa_err:.2e} "
                  f"|sdpa_bf16-ref|max={sdpa_err:.2e} rel_l2={rel:.2e} {'ok' if good else 'MISMATCH'}")
    # one backward pass: gradients against the float32 reference
    q, k, v = (torch.randn(2, 256, 8, 128, device=dev, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    g = torch.randn(2, 256, 8, 128, device=dev, dtype=torch.bfloat16)
    flash_attn_func(q, k, v, causal=True).backward(g)
    fa_grads = [t.grad.float().clone() for t in (q, k, v)]
    q32, k32, v32 = (t.detach().float().requires_grad_() for t in (q, k, v))
    sdpa(q32, k32, v32, True).backward(g.float())
    grad_err = max((a - t.grad).abs().max().item() for a, t in zip(fa_grads, (q32, k32, v32), strict=True))
    print(f"backward causal B=2 S=256 H=8 D=128: max |grad_fa - grad_ref| = {grad_err:.2e}")
    rows.append({"backward": True, "max_abs_grad": grad_err})
    print("JSON", json.dumps(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
