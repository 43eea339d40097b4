// ONNX models (nn.h group "onnx"): export of a sequential MLP as an ONNX
// graph (opset 13; Gemm with transB=1, Relu, Sigmoid, Tanh, Softmax(axis=-1),
// LeakyRelu(alpha=0.01), Greater+Cast for STEP; a dynamic batch dimension),
// and import of the chains torch.onnx.export writes for an nn.Sequential of
// Linear and those activations. The protobuf encoding is read and written by
// io/protobuf (no libprotobuf). The reader trusts nothing: errors throw
// Errc::Format (malformed file) or Errc::Unsupported (a valid graph libnn
// cannot represent, naming the node and its op), never more memory than a
// small multiple of the file's size.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "nn/model.hpp"

namespace nn {
namespace onnx {

constexpr int64_t kExportOpset = 13;
constexpr int64_t kExportIrVersion = 7;  // the IR version of opset 13

// The serialized ModelProto of m (parameters copied from any device).
std::vector<uint8_t> export_model(const Model &m, const char *what);
// Builds a model on the CPU from a serialized ModelProto, then moves it to dev.
std::unique_ptr<Model> import_model(const uint8_t *buf, size_t len, Device dev, const char *what);

}  // namespace onnx
}  // namespace nn
