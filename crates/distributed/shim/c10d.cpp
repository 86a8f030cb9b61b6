// C ABI over PyTorch's c10d: a TCPStore rendezvous and a Gloo or NCCL process group, the engine
// that torch.distributed and DDP use. Rust calls these through src/ffi.rs.
//
// Every function catches every C++ exception and returns it as a message: nothing here may abort
// the process. Errors are returned as a malloc'ed string (free it with dist_error_free), NULL on
// success. Tensors come from tch: `Tensor::as_ptr()` is an `at::Tensor*` (torch-sys's
// `typedef torch::Tensor *tensor;`).

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace {

// Result codes of dist_pg_create, mirrored in src/ffi.rs.
constexpr int kOk = 0;
constexpr int kError = 1;
constexpr int kPortInUse = 2;
constexpr int kUnsupported = 3;

char* dup_message(const std::string& message) {
  char* out = static_cast<char*>(std::malloc(message.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, message.c_str(), message.size() + 1);
  }
  return out;
}

// The message of the exception being handled, without c10's C++ backtrace.
std::string current_exception_message() {
  try {
    throw;
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown C++ exception";
  }
}

bool mentions_address_in_use(const std::string& message) {
  return message.find("EADDRINUSE") != std::string::npos ||
      message.find("ddress already in use") != std::string::npos;
}

}  // namespace

struct DistPg {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  bool nccl = false;
  int device_index = -1;
};

extern "C" {

void dist_error_free(char* message) {
  std::free(message);
}

// Creates the store and the process group. On success returns kOk and sets *out; otherwise returns
// another code and sets *error (free with dist_error_free).
//
// backend: "gloo" or "nccl". host_store: this process starts the TCPStore server on port (rank 0
// without a launcher store); otherwise it connects as a client (every rank under torchrun, whose
// agent already serves the store on MASTER_PORT). store_prefix keeps this group's keys apart from
// anything else in the store. device_index: the CUDA device of this rank (NCCL only).
int dist_pg_create(
    const char* backend,
    const char* addr,
    uint16_t port,
    int rank,
    int world_size,
    int64_t timeout_ms,
    int host_store,
    const char* store_prefix,
    int device_index,
    DistPg** out,
    char** error) {
  *out = nullptr;
  *error = nullptr;
  const std::string name(backend);
  const auto timeout = std::chrono::milliseconds(timeout_ms);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions opts;
    opts.port = port;
    opts.isServer = host_store != 0;
    opts.numWorkers = static_cast<std::size_t>(world_size);
    opts.waitWorkers = true;
    opts.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(std::string(addr), opts);
  } catch (...) {
    const std::string message = current_exception_message();
    if (host_store != 0 && mentions_address_in_use(message)) {
      *error = dup_message("port " + std::to_string(port) + " on " + addr + " is in use");
      return kPortInUse;
    }
    *error = dup_message("TCPStore at " + std::string(addr) + ":" + std::to_string(port) + ": " + message);
    return kError;
  }
  try {
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>(std::string(store_prefix), store);
    auto pg = new DistPg();
    pg->store = store;
    pg->device_index = device_index;
    if (name == "gloo") {
#ifdef USE_C10D_GLOO
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      // As torch.distributed does: the interfaces named in GLOO_SOCKET_IFNAME (comma-separated),
      // else the address this host's name resolves to, falling back to loopback.
      const char* ifnames = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifnames != nullptr && ifnames[0] != '\0') {
        std::string rest(ifnames);
        std::size_t start = 0;
        while (start <= rest.size()) {
          std::size_t end = rest.find(',', start);
          if (end == std::string::npos) {
            end = rest.size();
          }
          if (end > start) {
            options->devices.push_back(
                ::c10d::ProcessGroupGloo::createDeviceForInterface(rest.substr(start, end - start)));
          }
          start = end + 1;
        }
      }
      if (options->devices.empty()) {
        options->devices.push_back(::c10d::ProcessGroupGloo::createDefaultDevice());
      }
      pg->backend = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, world_size, options);
#else
      delete pg;
      *error = dup_message("this build has no Gloo support");
      return kUnsupported;
#endif
    } else if (name == "nccl") {
#ifdef USE_C10D_NCCL
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_index));
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, world_size, options);
      nccl->setBoundDeviceId(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device_index)));
      pg->backend = nccl;
      pg->nccl = true;
#else
      delete pg;
      *error = dup_message("this build has no NCCL support");
      return kUnsupported;
#endif
    } else {
      delete pg;
      *error = dup_message("unknown backend '" + name + "'");
      return kUnsupported;
    }
    *out = pg;
    return kOk;
  } catch (...) {
    *error = dup_message(current_exception_message());
    return kError;
  }
}

// In-place SUM all-reduce of one dense contiguous tensor.
char* dist_pg_all_reduce_sum(DistPg* pg, const at::Tensor* tensor) {
  try {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    pg->backend->allreduce(tensors, opts)->wait();
    return nullptr;
  } catch (...) {
    return dup_message(current_exception_message());
  }
}

// In-place broadcast of one dense contiguous tensor from root.
char* dist_pg_broadcast(DistPg* pg, const at::Tensor* tensor, int root) {
  try {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.rootTensor = 0;
    pg->backend->broadcast(tensors, opts)->wait();
    return nullptr;
  } catch (...) {
    return dup_message(current_exception_message());
  }
}

char* dist_pg_barrier(DistPg* pg) {
  try {
    c10d::BarrierOptions opts;
    if (pg->nccl) {
      opts.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(pg->device_index));
      opts.device_ids = {pg->device_index};
    }
    pg->backend->barrier(opts)->wait();
    return nullptr;
  } catch (...) {
    return dup_message(current_exception_message());
  }
}

void dist_pg_free(DistPg* pg) {
  try {
    delete pg;
  } catch (...) {
    // A destructor that throws has nowhere to report to; the process goes on.
  }
}

}  // extern "C"
