# ONNX export and import (nn.h group "onnx"); included from NN.jl.

"""
    export_onnx(m::Model, path)

Writes the model as an ONNX file, atomically (`nn_model_export_onnx`): opset
13, `Gemm` (transB = 1) per Linear layer and the activations as ONNX ops,
input `"input"` and output `"output"` with a dynamic batch dimension, float or
double like the model.
"""
function export_onnx(m::Model, path::AbstractString)
    _check(ccall(_f(:nn_model_export_onnx), Cint, (Ptr{Cvoid}, Cstring), m, path))
    return path
end

"""
    import_onnx(path; device = CPU)

Reads an ONNX MLP (what `torch.onnx.export` writes for an `nn.Sequential` of
Linear and the supported activations) onto a device (`nn_model_import_onnx`).
Anything else throws an `NNError` with status `NN_ERR_UNSUPPORTED` naming the
node and op; a malformed file `NN_ERR_FORMAT`.
"""
function import_onnx(path::AbstractString; device::Device = CPU)
    return _new_model() do out
        ccall(_f(:nn_model_import_onnx), Cint, (Cstring, Device, Ptr{Ptr{Cvoid}}), path, device, out)
    end
end
