#include "runtime/artifact/codec.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zstd.h>

#include <memory>
#include <stdexcept>

#include "runtime/artifact/byte_io.h"

namespace golf {

namespace artifact_format {
const char* codec_name(Codec c) {
  switch (c) {
    case Codec::none: return "none";
    case Codec::zstd: return "zstd";
    case Codec::brotli: return "brotli";
  }
  return "unknown";
}
}  // namespace artifact_format

using artifact_format::Codec;

std::vector<Codec> codecs_for_setting(const std::string& setting) {
  if (setting == "auto") return {Codec::zstd, Codec::brotli};
  if (setting == "zstd") return {Codec::zstd};
  if (setting == "brotli") return {Codec::brotli};
  if (setting == "none") return {Codec::none};
  throw std::invalid_argument("unknown codec '" + setting + "' (expected zstd, brotli, auto or none)");
}

namespace {

constexpr int kZstdLevel = 22;
constexpr int kZstdWindowLog = 27;
// The decoder accepts more than the encoder writes, so that an encoder raising its window later
// still produces files this reader opens; the output buffer is flat, so the window costs nothing.
constexpr int kZstdDecoderWindowLogMax = 30;
constexpr int kBrotliQuality = 11;

std::string zstd_compress(std::string_view raw) {
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!cctx) throw std::bad_alloc();
  auto set = [&](ZSTD_cParameter p, int v) {
    size_t rc = ZSTD_CCtx_setParameter(cctx.get(), p, v);
    if (ZSTD_isError(rc)) throw std::runtime_error(std::string("zstd: cannot set a parameter: ") + ZSTD_getErrorName(rc));
  };
  set(ZSTD_c_compressionLevel, kZstdLevel);
  set(ZSTD_c_enableLongDistanceMatching, 1);
  set(ZSTD_c_windowLog, kZstdWindowLog);  // zstd shrinks it to the input's size when that is smaller
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), raw.data(), raw.size());
  if (ZSTD_isError(n)) throw std::runtime_error(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

std::string zstd_decompress(std::string_view in, uint64_t raw_length, const std::string& name) {
  unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) artifact_fail(name, "corrupt body: not a zstd frame");
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != raw_length)
    artifact_fail(name, "corrupt body: the zstd frame declares " + std::to_string(declared) + " bytes, the header " +
                            std::to_string(raw_length));
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx) throw std::bad_alloc();
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kZstdDecoderWindowLogMax);
  std::string out(raw_length, '\0');
  size_t n = ZSTD_decompressDCtx(dctx.get(), out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n)) artifact_fail(name, std::string("corrupt body: zstd: ") + ZSTD_getErrorName(n));
  if (n != raw_length)
    artifact_fail(name, "corrupt body: decompresses to " + std::to_string(n) + " bytes, the header declares " +
                            std::to_string(raw_length));
  return out;
}

// The smallest window (10..30 bits) that holds the whole body: a larger one only costs the
// encoder memory (quality 11 keeps a tree node pair per window position).
int brotli_window_bits(size_t n) {
  int w = BROTLI_MIN_WINDOW_BITS;
  while (w < BROTLI_LARGE_MAX_WINDOW_BITS && (size_t(1) << w) - 16 < n) w++;
  return w;
}

std::string brotli_compress(std::string_view raw) {
  std::unique_ptr<BrotliEncoderState, void (*)(BrotliEncoderState*)> enc(
      BrotliEncoderCreateInstance(nullptr, nullptr, nullptr), BrotliEncoderDestroyInstance);
  if (!enc) throw std::bad_alloc();
  BrotliEncoderSetParameter(enc.get(), BROTLI_PARAM_QUALITY, kBrotliQuality);
  BrotliEncoderSetParameter(enc.get(), BROTLI_PARAM_LARGE_WINDOW, 1);
  BrotliEncoderSetParameter(enc.get(), BROTLI_PARAM_LGWIN, uint32_t(brotli_window_bits(raw.size())));
  BrotliEncoderSetParameter(enc.get(), BROTLI_PARAM_SIZE_HINT,
                            uint32_t(raw.size() < (size_t(1) << 30) ? raw.size() : (size_t(1) << 30)));
  std::string out;
  size_t avail_in = raw.size();
  const auto* next_in = reinterpret_cast<const uint8_t*>(raw.data());
  char chunk[1 << 16];
  while (!BrotliEncoderIsFinished(enc.get())) {
    size_t avail_out = sizeof chunk;
    auto* next_out = reinterpret_cast<uint8_t*>(chunk);
    if (!BrotliEncoderCompressStream(enc.get(), BROTLI_OPERATION_FINISH, &avail_in, &next_in, &avail_out, &next_out,
                                     nullptr))
      throw std::runtime_error("brotli compression failed");
    out.append(chunk, sizeof chunk - avail_out);
  }
  return out;
}

std::string brotli_decompress(std::string_view in, uint64_t raw_length, const std::string& name) {
  std::unique_ptr<BrotliDecoderState, void (*)(BrotliDecoderState*)> dec(
      BrotliDecoderCreateInstance(nullptr, nullptr, nullptr), BrotliDecoderDestroyInstance);
  if (!dec) throw std::bad_alloc();
  BrotliDecoderSetParameter(dec.get(), BROTLI_DECODER_PARAM_LARGE_WINDOW, 1);
  std::string out(raw_length, '\0');
  size_t avail_in = in.size(), avail_out = out.size();
  const auto* next_in = reinterpret_cast<const uint8_t*>(in.data());
  auto* next_out = reinterpret_cast<uint8_t*>(out.data());
  auto rc = BrotliDecoderDecompressStream(dec.get(), &avail_in, &next_in, &avail_out, &next_out, nullptr);
  switch (rc) {
    case BROTLI_DECODER_RESULT_SUCCESS:
      if (avail_in) artifact_fail(name, "corrupt body: " + std::to_string(avail_in) + " bytes after the brotli stream");
      if (avail_out)
        artifact_fail(name, "corrupt body: decompresses to " + std::to_string(raw_length - avail_out) +
                                " bytes, the header declares " + std::to_string(raw_length));
      return out;
    case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
      artifact_fail(name, "corrupt body: decompresses to more than the " + std::to_string(raw_length) +
                              " bytes the header declares");
    case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
      artifact_fail(name, "corrupt body: the brotli stream ends early");
    default:
      artifact_fail(name, std::string("corrupt body: brotli: ") +
                              BrotliDecoderErrorString(BrotliDecoderGetErrorCode(dec.get())));
  }
}

}  // namespace

std::string compress_body(std::string_view raw, Codec codec) {
  switch (codec) {
    case Codec::none: return std::string(raw);
    case Codec::zstd: return zstd_compress(raw);
    case Codec::brotli: return brotli_compress(raw);
  }
  throw std::invalid_argument("compress_body: unknown codec id " + std::to_string(int(codec)));
}

std::string decompress_body(std::string_view compressed, Codec codec, uint64_t raw_length, const std::string& name) {
  switch (codec) {
    case Codec::none:
      if (compressed.size() != raw_length)
        artifact_fail(name, "corrupt header: an uncompressed body of " + std::to_string(compressed.size()) +
                                " bytes declared as " + std::to_string(raw_length));
      return std::string(compressed);
    case Codec::zstd: return zstd_decompress(compressed, raw_length, name);
    case Codec::brotli: return brotli_decompress(compressed, raw_length, name);
  }
  artifact_fail(name, "unknown codec");
}

}  // namespace golf
