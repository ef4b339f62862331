// oneDNN convolutions as XLA FFI handlers: the three bilinear ops of a VALID, stride-1,
// float32 convolution (singan_jax/core/conv_forms.py), for conv_impl='onednn' on CPU.
//
//   SinganDnnlValid       (x NHWC, kernel HWIO) -> y NHWC           forward
//   SinganDnnlInputGrad   (dy NHWC, kernel HWIO) -> dx NHWC         backward data
//   SinganDnnlKernelGrad  (x NHWC, dy NHWC) -> dkernel HWIO         backward weights
//
// Each (op, shape) gets a plan once (a primitive oneDNN picks for this processor, with its
// own blocked weight layout, and the reorders between that layout and ours), kept for the
// process; later calls only wrap the buffers and run. Plans run concurrently from XLA's
// threads: every call brings its own scratchpad and reorder buffers, and its own stream.
// Built at first use by singan_jax/core/onednn/__init__.py (g++ -O2 -shared -fPIC).

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace {

namespace ffi = xla::ffi;
using dnnl::memory;
using Tag = memory::format_tag;

enum Op : int64_t { kValid = 0, kInputGrad = 1, kKernelGrad = 2 };

// The forward convolution every op belongs to: x (n, h, w, cin), kernel (kh, kw, cin, cout).
struct Conv {
  int64_t n, h, w, cin, cout, kh, kw;
  int64_t ho() const { return h - kh + 1; }
  int64_t wo() const { return w - kw + 1; }
};

dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& Stream() {
  thread_local dnnl::stream stream(Engine());
  return stream;
}

memory::desc Desc(const memory::dims& dims, Tag tag) {
  return memory::desc(dims, memory::data_type::f32, tag);
}

// oneDNN's logical dims are (N, C, H, W) and (O, I, H, W); tags give our physical layouts.
memory::desc SrcDesc(const Conv& c, Tag tag) { return Desc({c.n, c.cin, c.h, c.w}, tag); }
memory::desc DstDesc(const Conv& c, Tag tag) { return Desc({c.n, c.cout, c.ho(), c.wo()}, tag); }
memory::desc WeiDesc(const Conv& c, Tag tag) { return Desc({c.cout, c.cin, c.kh, c.kw}, tag); }

dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// A reorder between our layout and a primitive's, with the scratchpad it needs.
struct Reorder {
  dnnl::reorder prim;
  memory::desc scratch;
};

// One argument of a plan's primitive: its oneDNN id, our layout, the primitive's, and the
// reorder between them (ours -> its for an input, its -> ours for the result) if they differ.
struct Arg {
  int id = 0;
  memory::desc ours, theirs;
  std::unique_ptr<Reorder> reorder;
};

struct Plan {
  dnnl::primitive prim;
  std::array<Arg, 3> args;  // the two inputs, then the result
  memory::desc scratch;
  std::string impl;  // oneDNN's name of the implementation it picked (tests, benchmarks)
};

Arg MakeArg(int id, const memory::desc& ours, const memory::desc& theirs, bool is_result) {
  Arg arg;
  arg.id = id;
  arg.ours = ours;
  arg.theirs = theirs;
  if (ours != theirs) {
    const memory::desc& from = is_result ? theirs : ours;
    const memory::desc& to = is_result ? ours : theirs;
    dnnl::reorder::primitive_desc pd(Engine(), from, Engine(), to, UserScratchpad());
    arg.reorder.reset(new Reorder{dnnl::reorder(pd), pd.scratchpad_desc()});
  }
  return arg;
}

dnnl::convolution_forward::primitive_desc ForwardPd(const Conv& c, Tag act) {
  return dnnl::convolution_forward::primitive_desc(
    Engine(), dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
    SrcDesc(c, act), WeiDesc(c, Tag::any), DstDesc(c, act), {1, 1}, {0, 0}, {0, 0},
    UserScratchpad());
}

dnnl::convolution_backward_data::primitive_desc InputGradPd(const Conv& c, Tag act) {
  return dnnl::convolution_backward_data::primitive_desc(
    Engine(), dnnl::algorithm::convolution_direct, SrcDesc(c, act), WeiDesc(c, Tag::any),
    DstDesc(c, act), {1, 1}, {0, 0}, {0, 0}, ForwardPd(c, act), UserScratchpad());
}

dnnl::convolution_backward_weights::primitive_desc KernelGradPd(const Conv& c, Tag act) {
  return dnnl::convolution_backward_weights::primitive_desc(
    Engine(), dnnl::algorithm::convolution_direct, SrcDesc(c, act), WeiDesc(c, Tag::any),
    DstDesc(c, act), {1, 1}, {0, 0}, {0, 0}, ForwardPd(c, act), UserScratchpad());
}

// Weights always take the primitive's own layout ('any'), reordered from / to HWIO. The
// activations stay NHWC where oneDNN has a brgemm kernel that reads it directly (blocked
// layouts plus reorders measured slower there, Zen 4); where it has none (the weight
// gradient on AVX2: its NHWC jit kernel ran 3.7x slower, Zen 3) they take the primitive's
// blocked layout, reordered (docs/performance.md).
template <typename MakePd>
auto PickLayout(MakePd make_pd) {
  auto pd = make_pd(Tag::nhwc);
  if (std::string(pd.impl_info_str()).find("brg") != std::string::npos) return pd;
  return make_pd(Tag::any);
}

// The plan's arguments: the two inputs (ours -> the primitive's layout), then the result.
template <typename Pd>
void Fill(Plan* plan, const Pd& pd, std::array<int, 3> ids, std::array<memory::desc, 3> ours,
          std::array<memory::desc, 3> theirs) {
  for (int i = 0; i < 3; ++i) plan->args[i] = MakeArg(ids[i], ours[i], theirs[i], i == 2);
  plan->scratch = pd.scratchpad_desc();
  const bool blocked = ours[0] != theirs[0];  // the first input is an activation in every op
  plan->impl = std::string(pd.impl_info_str()) + (blocked ? " (blocked)" : " (nhwc)");
}

std::unique_ptr<Plan> MakePlan(Op op, const Conv& c) {
  auto plan = std::make_unique<Plan>();
  const memory::desc x = SrcDesc(c, Tag::nhwc), y = DstDesc(c, Tag::nhwc);
  const memory::desc k = WeiDesc(c, Tag::hwio);
  if (op == kValid) {
    auto pd = PickLayout([&](Tag act) { return ForwardPd(c, act); });
    plan->prim = dnnl::convolution_forward(pd);
    Fill(plan.get(), pd, {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST}, {x, k, y},
         {pd.src_desc(), pd.weights_desc(), pd.dst_desc()});
  } else if (op == kInputGrad) {
    auto pd = PickLayout([&](Tag act) { return InputGradPd(c, act); });
    plan->prim = dnnl::convolution_backward_data(pd);
    Fill(plan.get(), pd, {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC}, {y, k, x},
         {pd.diff_dst_desc(), pd.weights_desc(), pd.diff_src_desc()});
  } else {
    auto pd = PickLayout([&](Tag act) { return KernelGradPd(c, act); });
    plan->prim = dnnl::convolution_backward_weights(pd);
    Fill(plan.get(), pd, {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS}, {x, y, k},
         {pd.src_desc(), pd.diff_dst_desc(), pd.diff_weights_desc()});
  }
  return plan;
}

// The plan of (op, conv), made on first use and kept (plans are never freed: one per shape).
const Plan& GetPlan(Op op, const Conv& c) {
  using Key = std::array<int64_t, 8>;
  struct Hash {
    size_t operator()(const Key& k) const {
      size_t h = 0;
      for (int64_t v : k) h = h * 1000003u ^ static_cast<size_t>(v);
      return h;
    }
  };
  static std::mutex mu;
  static std::unordered_map<Key, std::unique_ptr<Plan>, Hash> plans;
  const Key key = {op, c.n, c.h, c.w, c.cin, c.cout, c.kh, c.kw};
  std::lock_guard<std::mutex> lock(mu);
  auto it = plans.find(key);
  if (it == plans.end()) it = plans.emplace(key, MakePlan(op, c)).first;
  return *it->second;
}

void RunReorder(const Reorder& r, memory& from, memory& to) {
  memory scratch(r.scratch, Engine());
  r.prim.execute(Stream(), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to},
                            {DNNL_ARG_SCRATCHPAD, scratch}});
}

// Runs the plan on our buffers (inputs a, b; result out), reordering where layouts differ.
void Execute(const Plan& plan, void* a, void* b, void* out) {
  void* data[3] = {a, b, out};
  std::unordered_map<int, memory> args;
  std::array<memory, 3> ours;
  for (int i = 0; i < 3; ++i) {
    const Arg& arg = plan.args[i];
    ours[i] = memory(arg.ours, Engine(), data[i]);
    if (!arg.reorder) {
      args[arg.id] = ours[i];
      continue;
    }
    memory theirs(arg.theirs, Engine());  // a buffer of this call's own
    if (i < 2) RunReorder(*arg.reorder, ours[i], theirs);
    args[arg.id] = theirs;
  }
  memory scratch(plan.scratch, Engine());
  args[DNNL_ARG_SCRATCHPAD] = scratch;
  plan.prim.execute(Stream(), args);
  const Arg& result = plan.args[2];
  if (result.reorder) RunReorder(*result.reorder, args[result.id], ours[2]);
  Stream().wait();
}

// The forward convolution of op from its two arguments' dims (NHWC / HWIO).
Conv ConvOf(Op op, ffi::Span<const int64_t> a, ffi::Span<const int64_t> b) {
  if (op == kValid) return {a[0], a[1], a[2], a[3], b[3], b[0], b[1]};
  if (op == kInputGrad) return {a[0], a[1] + b[0] - 1, a[2] + b[1] - 1, b[2], b[3], b[0], b[1]};
  return {a[0], a[1], a[2], a[3], b[3], a[1] - b[1] + 1, a[2] - b[2] + 1};
}

ffi::Error Run(Op op, ffi::Buffer<ffi::F32> a, ffi::Buffer<ffi::F32> b,
               ffi::ResultBuffer<ffi::F32> out) {
  if (a.dimensions().size() != 4 || b.dimensions().size() != 4) {
    return ffi::Error::InvalidArgument("singan oneDNN conv: both arguments must be rank 4");
  }
  const Conv c = ConvOf(op, a.dimensions(), b.dimensions());
  if (c.n * c.h * c.w * c.cin * c.cout * c.kh * c.kw == 0) {
    std::memset(out->typed_data(), 0, out->size_bytes());
    return ffi::Error::Success();
  }
  try {
    Execute(GetPlan(op, c), a.typed_data(), b.typed_data(), out->typed_data());
  } catch (const dnnl::error& e) {
    return ffi::Error::Internal(std::string("singan oneDNN conv: ") + e.what());
  }
  return ffi::Error::Success();
}

ffi::Error Valid(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> k,
                 ffi::ResultBuffer<ffi::F32> y) {
  return Run(kValid, x, k, y);
}

ffi::Error InputGrad(ffi::Buffer<ffi::F32> dy, ffi::Buffer<ffi::F32> k,
                     ffi::ResultBuffer<ffi::F32> dx) {
  return Run(kInputGrad, dy, k, dx);
}

ffi::Error KernelGrad(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> dy,
                      ffi::ResultBuffer<ffi::F32> dk) {
  return Run(kKernelGrad, x, dy, dk);
}

}  // namespace

#define SINGAN_DNNL_BINDING                       \
  ffi::Ffi::Bind()                                \
    .Arg<ffi::Buffer<ffi::F32>>()                 \
    .Arg<ffi::Buffer<ffi::F32>>()                 \
    .Ret<ffi::Buffer<ffi::F32>>()

XLA_FFI_DEFINE_HANDLER_SYMBOL(SinganDnnlValid, Valid, SINGAN_DNNL_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(SinganDnnlInputGrad, InputGrad, SINGAN_DNNL_BINDING);
XLA_FFI_DEFINE_HANDLER_SYMBOL(SinganDnnlKernelGrad, KernelGrad, SINGAN_DNNL_BINDING);

// The name of the implementation oneDNN picks for op (0 valid, 1 input_grad, 2 kernel_grad)
// on the forward convolution conv = (n, h, w, cin, cout, kh, kw), into buf; 0 on success.
extern "C" int SinganDnnlImpl(int64_t op, const int64_t* conv, char* buf, int64_t len) {
  try {
    const Conv c = {conv[0], conv[1], conv[2], conv[3], conv[4], conv[5], conv[6]};
    std::snprintf(buf, len, "%s", GetPlan(static_cast<Op>(op), c).impl.c_str());
  } catch (const dnnl::error& e) {
    std::snprintf(buf, len, "%s", e.what());
    return 1;
  }
  return 0;
}
