"""The PyTorch port's training iteration for `bench train`: lean (singan_jax/reference, the
single-channel mask sum, as ours) or 2019-faithful (the full Cin -> Cout mask sum and the
resizes between scales on the host in numpy), on the CPU or on CUDA."""

import numpy as np

from singan_jax.bench import common


def torch_device(name: str) -> str:
  """The torch device of the port: name, or for 'auto' cuda where torch sees a GPU."""
  if name != "auto":
    return name
  import torch  # pylint: disable=g-import-not-at-top

  return "cuda" if torch.cuda.is_available() else "cpu"


def _host_resize(x, scale, out_hw):
  """The 2019 code resized between scales on the host (numpy); float here, no uint8."""
  import torch  # pylint: disable=g-import-not-at-top
  from singan_jax import reference as tr  # pylint: disable=g-import-not-at-top

  a = x.detach().cpu().numpy().astype(np.float64)
  mh = tr.resize_matrix(a.shape[2], scale, out_hw[0])
  mw = tr.resize_matrix(a.shape[3], scale, out_hw[1])
  a = np.einsum("oh,nchw->ncow", mh, a)
  a = np.einsum("pw,ncow->ncop", mw, a)
  return torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(x.device)


def torch_case(cfg, plan, n, faithful: bool, device: str = "cpu"):
  """A closure running one port iteration at scale n (Dsteps prev draws through the coarser
  Gs), its networks and steps those of cfg, on `device` (the port's tensors are made on
  torch's default device: set to it for the build and for every call)."""
  import torch  # pylint: disable=g-import-not-at-top

  with torch.device(device):
    run = _torch_case(cfg, plan, n, faithful, torch.Generator(device).manual_seed(cfg.seed))

  def on_device():
    with torch.device(device):
      run()

  return on_device


def _torch_case(cfg, plan, n, faithful: bool, gen):
  import torch  # pylint: disable=g-import-not-at-top
  from singan_jax import reference as ref  # pylint: disable=g-import-not-at-top

  torch.manual_seed(cfg.seed)
  sf, shapes, partial = plan.scale_factor, plan.shapes, bool(cfg.partial)
  kw = dict(
    num_layer=cfg.num_layer,
    partial=partial,
    normalization=cfg.pconv_norm,
    faithful=faithful,
    generator=gen,
  )
  gs = [ref.Generator(plan.nfc[k], plan.min_nfc[k], **kw).eval() for k in range(n)]
  G = ref.Generator(plan.nfc[n], plan.min_nfc[n], **kw)
  D = ref.Discriminator(plan.nfc[n], plan.min_nfc[n], **kw)
  optG, optD = ref.make_optimizers(G, D, cfg.lr_g, cfg.lr_d, cfg.beta1)
  h, w = shapes[n]
  real = torch.rand(1, 3, h, w, generator=gen) * 2 - 1
  known = torch.from_numpy(common.hole_box(h, w))[None, None].to(real.device)
  z_prev = torch.full((1, 3, h, w), 0.1)
  z_opt = torch.zeros(1, 3, h, w)
  amps = [0.1] * (n + 1)

  def draw():
    if n == 0:
      return torch.zeros(1, 3, h, w)
    noises = [torch.randn(1, 1 if k == 0 else 3, *shapes[k]) for k in range(n)]
    if not faithful:
      return ref.draw(gs, None, amps, shapes, "rand", noises, sf=sf, partial=partial)
    x = torch.zeros(1, 3, *shapes[0])
    with torch.no_grad():
      for k in range(n):
        if k > 0:
          x = _host_resize(x, 1.0 / sf, shapes[k])
        z = noises[k].expand(-1, 3, -1, -1)
        prev_p = ref.zero_pad(x)
        mask = ref.zero_pad(torch.ones_like(x[:, :1]))
        x = gs[k](amps[k] * ref.zero_pad(z) + prev_p, prev_p, mask)
    return _host_resize(x, 1.0 / sf, shapes[n])

  def run():
    noise = torch.randn(1, 1 if n == 0 else 3, h, w).expand(-1, 3, -1, -1).contiguous()
    prevs = [draw() for _ in range(cfg.Dsteps)]
    alphas = torch.rand(cfg.Dsteps).tolist()
    ref.train_iteration(
      *(G, D, optG, optD, real, known, noise, z_opt, z_prev, prevs, alphas, amps[n]),
      alpha=cfg.alpha,
      partial=partial,
      Gsteps=cfg.Gsteps,
      lambda_grad=cfg.lambda_grad,
    )

  return run


def time_torch(cfg, plan, n, faithful, iters, device="cpu"):
  """Seconds per port iteration (each ends in a host read of its losses, so a CUDA run is
  synchronised) and, on CUDA, the peak memory torch allocated for it."""
  import torch  # pylint: disable=g-import-not-at-top

  cuda = device.startswith("cuda")
  if cuda:
    torch.cuda.reset_peak_memory_stats(device)
  run = torch_case(cfg, plan, n, faithful, device)
  times = common.time_calls(run, iters, warmup=1)
  peak_mb = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else float("nan")
  return dict(times=times, peak_mb=peak_mb)
