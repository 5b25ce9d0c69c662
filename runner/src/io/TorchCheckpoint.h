// Reads files written by PyTorch's torch.save, natively: the zip format
// (PyTorch >= 1.6) and the legacy format (PyTorch <= 1.5, e.g. torchvision's
// classic ImageNet weights and the released SSGRL .pth.tar files, which
// Python 2 wrote). Only tensors and plain data are built: any other global
// is refused by name, so loading an untrusted file never runs code.
#pragma once

#include <string>

#include "io/PickleValue.h"
#include "labrun/ModelContext.h"

namespace labrun::io {

// torch.load(path, map_location="cpu") for data checkpoints: dicts
// (OrderedDict too), lists, tuples, numbers (NumPy scalars too), strings and
// tensors of any dtype torch.save writes, with their storage offset, sizes
// and strides; tensors that share a storage in the file share memory here.
// Throws std::runtime_error "<path>: <problem>" for a file that is not a
// checkpoint, a truncated one, or an unsupported opcode or global (named).
PickleRef loadTorchFile(const std::string& path);

// The state dict in `path`: a dict of tensors (parameter/buffer name ->
// tensor), possibly nested under "state_dict" or "model" (training
// checkpoints such as {'epoch', 'state_dict', 'best_mAP'}); a "module."
// prefix on every key (DataParallel) is removed, entries that are not
// tensors are skipped. Throws std::runtime_error naming the file as
// loadTorchFile does, and when no tensor is found.
StateDict loadStateDict(const std::string& path);

}  // namespace labrun::io
