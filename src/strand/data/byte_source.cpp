#include "strand/data/byte_source.h"

#include "strand/core/error.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <lzma.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace strand::data {
namespace {

constexpr size_t kInputBufferBytes = 256 * 1024;

// The file itself: read(2) with a look-ahead of a few bytes for detecting the compression.
class RawFile {
 public:
  explicit RawFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    STRAND_CHECK(fd_ >= 0, "{}: cannot open: {}", path_, std::strerror(errno));
  }
  ~RawFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;

  // Up to `n` bytes from the start of the file without consuming them (fewer only for a shorter file).
  std::string_view peek(size_t n) {
    while (ahead_.size() < n) {
      char chunk[16];
      const size_t got = read_fd(chunk, std::min(sizeof(chunk), n - ahead_.size()));
      if (got == 0) break;
      ahead_.append(chunk, got);
    }
    return std::string_view(ahead_).substr(0, n);
  }

  size_t read(char* buffer, size_t n) {
    if (ahead_pos_ < ahead_.size()) {
      const size_t take = std::min(n, ahead_.size() - ahead_pos_);
      std::memcpy(buffer, ahead_.data() + ahead_pos_, take);
      ahead_pos_ += take;
      offset_ += take;
      return take;
    }
    const size_t got = read_fd(buffer, n);
    offset_ += got;
    return got;
  }

  const std::string& path() const { return path_; }
  uint64_t offset() const { return offset_; }  // bytes handed out so far

 private:
  size_t read_fd(char* buffer, size_t n) {
    while (true) {
      const ssize_t got = ::read(fd_, buffer, n);
      if (got >= 0) return static_cast<size_t>(got);
      STRAND_CHECK(errno == EINTR, "{}: read failed: {}", path_, std::strerror(errno));
    }
  }

  std::string path_;
  int fd_ = -1;
  std::string ahead_;
  size_t ahead_pos_ = 0;
  uint64_t offset_ = 0;
};

class PlainSource final : public ByteSource {
 public:
  explicit PlainSource(std::unique_ptr<RawFile> file) : file_(std::move(file)) {}
  size_t read(char* buffer, size_t n) override { return file_->read(buffer, n); }
  Compression compression() const override { return Compression::None; }
  const std::string& path() const override { return file_->path(); }

 private:
  std::unique_ptr<RawFile> file_;
};

// Shared by the decompressors: the compressed input, refilled only once the decoder has consumed all of it.
class CompressedInput {
 public:
  explicit CompressedInput(std::unique_ptr<RawFile> file)
      : file_(std::move(file)), buffer_(kInputBufferBytes) {}
  // Reads the next chunk; returns false at the end of the file.
  bool refill(const char*& data, size_t& size) {
    size = file_->read(buffer_.data(), buffer_.size());
    data = buffer_.data();
    return size > 0;
  }
  const std::string& path() const { return file_->path(); }
  uint64_t offset() const { return file_->offset(); }

 private:
  std::unique_ptr<RawFile> file_;
  std::vector<char> buffer_;
};

// A decompressor. Output decoded before an error is handed out first; the error is thrown by the next read,
// so that readers see every byte before the break (and can tell where it is).
class DecoderSource : public ByteSource {
 public:
  size_t read(char* buffer, size_t n) final {
    if (!pending_error_.empty()) throw Error(pending_error_);
    try {
      return decode(buffer, n);
    } catch (const Error& e) {
      const size_t produced = progress();
      if (produced == 0) throw;
      pending_error_ = e.what();
      return produced;
    }
  }

 protected:
  virtual size_t decode(char* buffer, size_t n) = 0;
  virtual size_t progress() const = 0;  // bytes the interrupted decode() had written

 private:
  std::string pending_error_;
};

class GzipSource final : public DecoderSource {
 public:
  explicit GzipSource(std::unique_ptr<RawFile> file) : in_(std::move(file)) {
    std::memset(&zs_, 0, sizeof(zs_));
    // 15 + 16: the largest window, gzip wrapper only (header and CRC-32/length trailer checked).
    STRAND_CHECK(inflateInit2(&zs_, 15 + 16) == Z_OK, "{}: cannot initialise the gzip decoder", in_.path());
  }
  ~GzipSource() override { inflateEnd(&zs_); }

  size_t decode(char* buffer, size_t n) override {
    zs_.next_out = reinterpret_cast<Bytef*>(buffer);
    zs_.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    wanted_ = zs_.avail_out;
    while (zs_.avail_out > 0 && !done_) {
      if (zs_.avail_in == 0 && !eof_) refill();
      if (zs_.avail_in == 0 && eof_) {
        STRAND_CHECK(!in_member_,
                     "{}: truncated gzip stream: the file ends inside member {} (after {} bytes)", in_.path(),
                     members_ + 1, in_.offset());
        done_ = true;
        break;
      }
      in_member_ = true;
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        // Another member may follow (concatenated gzip files, bgzip blocks); anything else is an error that
        // inflate reports once reset.
        ++members_;
        in_member_ = false;
        if (zs_.avail_in == 0 && !eof_) refill();
        if (zs_.avail_in == 0) {
          done_ = true;
          break;
        }
        STRAND_CHECK(inflateReset(&zs_) == Z_OK, "{}: cannot reset the gzip decoder", in_.path());
        continue;
      }
      if (rc == Z_BUF_ERROR) continue;  // needs more input: refilled at the top of the loop
      STRAND_CHECK(rc == Z_OK, "{}: corrupt gzip data in member {}: {}", in_.path(), members_ + 1,
                   zs_.msg != nullptr ? zs_.msg : zError(rc));
    }
    return wanted_ - zs_.avail_out;
  }
  size_t progress() const override { return wanted_ - zs_.avail_out; }
  Compression compression() const override { return Compression::Gzip; }
  const std::string& path() const override { return in_.path(); }

 private:
  void refill() {
    const char* data = nullptr;
    size_t size = 0;
    eof_ = !in_.refill(data, size);
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    zs_.avail_in = static_cast<uInt>(size);
  }

  CompressedInput in_;
  z_stream zs_;
  uInt wanted_ = 0;
  bool eof_ = false;
  bool done_ = false;
  bool in_member_ = true;  // the file starts with a member (its magic was seen)
  uint64_t members_ = 0;   // members completed
};

class ZstdSource final : public DecoderSource {
 public:
  explicit ZstdSource(std::unique_ptr<RawFile> file) : in_(std::move(file)), dctx_(ZSTD_createDCtx()) {
    STRAND_CHECK(dctx_ != nullptr, "{}: cannot create the zstd decoder", in_.path());
  }
  ~ZstdSource() override { ZSTD_freeDCtx(dctx_); }

  size_t decode(char* buffer, size_t n) override {
    out_ = ZSTD_outBuffer{buffer, n, 0};
    ZSTD_outBuffer& out = out_;
    while (out.pos < out.size) {
      if (input_.pos == input_.size && !eof_) refill();
      if (input_.pos == input_.size && eof_) {
        if (!frame_open_) break;
        // The decoder may still hold output of the last frame; only no progress at all means truncation.
        const size_t before = out.pos;
        step(out);
        STRAND_CHECK(!frame_open_ || out.pos > before,
                     "{}: truncated zstd stream: the file ends inside a frame (after {} bytes)", in_.path(),
                     in_.offset());
        continue;
      }
      step(out);
    }
    return out.pos;
  }
  size_t progress() const override { return out_.pos; }
  Compression compression() const override { return Compression::Zstd; }
  const std::string& path() const override { return in_.path(); }

 private:
  void step(ZSTD_outBuffer& out) {
    const size_t rc = ZSTD_decompressStream(dctx_, &out, &input_);
    STRAND_CHECK(!ZSTD_isError(rc), "{}: corrupt zstd data: {}", in_.path(), ZSTD_getErrorName(rc));
    frame_open_ = rc != 0;  // 0: a frame was completely decoded and flushed
  }
  void refill() {
    const char* data = nullptr;
    size_t size = 0;
    eof_ = !in_.refill(data, size);
    input_ = ZSTD_inBuffer{data, size, 0};
  }

  CompressedInput in_;
  ZSTD_DCtx* dctx_;
  ZSTD_inBuffer input_{nullptr, 0, 0};
  ZSTD_outBuffer out_{nullptr, 0, 0};
  bool eof_ = false;
  bool frame_open_ = true;  // the file starts with a frame (its magic was seen)
};

std::string_view lzma_error_text(lzma_ret rc) {
  switch (rc) {
    case LZMA_MEM_ERROR:
      return "out of memory";
    case LZMA_MEMLIMIT_ERROR:
      return "memory limit reached";
    case LZMA_FORMAT_ERROR:
      return "not in the .xz format";
    case LZMA_OPTIONS_ERROR:
      return "unsupported compression options";
    case LZMA_DATA_ERROR:
      return "compressed data is corrupt";
    case LZMA_BUF_ERROR:
      return "compressed data is truncated";
    default:
      return "decoder error";
  }
}

class XzSource final : public DecoderSource {
 public:
  explicit XzSource(std::unique_ptr<RawFile> file) : in_(std::move(file)) {
    // LZMA_CONCATENATED: decode every stream of a concatenated file (as `xz -d` does).
    const lzma_ret rc = lzma_stream_decoder(&strm_, UINT64_MAX, LZMA_CONCATENATED);
    STRAND_CHECK(rc == LZMA_OK, "{}: cannot initialise the xz decoder: {}", in_.path(), lzma_error_text(rc));
  }
  ~XzSource() override { lzma_end(&strm_); }

  size_t decode(char* buffer, size_t n) override {
    strm_.next_out = reinterpret_cast<uint8_t*>(buffer);
    strm_.avail_out = n;
    wanted_ = n;
    while (strm_.avail_out > 0 && !done_) {
      if (strm_.avail_in == 0 && !eof_) refill();
      const lzma_action action = strm_.avail_in == 0 && eof_ ? LZMA_FINISH : LZMA_RUN;
      const lzma_ret rc = lzma_code(&strm_, action);
      if (rc == LZMA_STREAM_END) {
        done_ = true;
        break;
      }
      if (rc == LZMA_BUF_ERROR && eof_) {
        STRAND_CHECK(false, "{}: truncated xz stream: the file ends inside a stream (after {} bytes)",
                     in_.path(), in_.offset());
      }
      STRAND_CHECK(rc == LZMA_OK, "{}: corrupt xz data: {}", in_.path(), lzma_error_text(rc));
    }
    return n - strm_.avail_out;
  }
  size_t progress() const override { return wanted_ - strm_.avail_out; }
  Compression compression() const override { return Compression::Xz; }
  const std::string& path() const override { return in_.path(); }

 private:
  void refill() {
    const char* data = nullptr;
    size_t size = 0;
    eof_ = !in_.refill(data, size);
    strm_.next_in = reinterpret_cast<const uint8_t*>(data);
    strm_.avail_in = size;
  }

  CompressedInput in_;
  lzma_stream strm_ = LZMA_STREAM_INIT;
  size_t wanted_ = 0;
  bool eof_ = false;
  bool done_ = false;
};

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string_view compression_name(Compression c) {
  switch (c) {
    case Compression::None:
      return "none";
    case Compression::Gzip:
      return "gzip";
    case Compression::Zstd:
      return "zstd";
    case Compression::Xz:
      return "xz";
  }
  return "unknown";
}

std::unique_ptr<ByteSource> open_byte_source(const std::string& path) {
  auto file = std::make_unique<RawFile>(path);
  const std::string_view magic = file->peek(6);
  if (starts_with(magic, "\x1f\x8b")) return std::make_unique<GzipSource>(std::move(file));
  if (starts_with(magic, "\x28\xb5\x2f\xfd")) return std::make_unique<ZstdSource>(std::move(file));
  if (starts_with(magic, std::string_view("\xfd\x37\x7a\x58\x5a\x00", 6))) {
    return std::make_unique<XzSource>(std::move(file));
  }
  STRAND_CHECK(!starts_with(magic, "BZh"), "{}: bzip2 compression is not supported (use gzip, zstd or xz)",
               path);
  STRAND_CHECK(!starts_with(magic, "PK\x03\x04"), "{}: zip archives are not supported (use gzip, zstd or xz)",
               path);
  return std::make_unique<PlainSource>(std::move(file));
}

}  // namespace strand::data
