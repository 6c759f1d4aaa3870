// CaseOps (the 1.0611 record's "lossless_caps_caseops_v1"): a reversible transform that lowercases
// ASCII letters and marks case with four control characters, applied to each document before
// tokenization so that "The", "THE" and "the" share pieces. Over maximal runs of ASCII letters:
//   lowercase                 → as is
//   ALLCAPS (2+ letters)      → ALLCAPS + lowercase
//   Title (upper, then lower) → TITLE + lowercase          (a single capital: TITLE + lowercase)
//   other mixed case          → [TITLE if the first is upper] + each later capital as CAPNEXT + lowercase
// and a control character that is in the text already is written ESC + itself. The controls are
// the private-use code points U+E001 TITLE, U+E002 ALLCAPS, U+E003 CAPNEXT, U+E004 ESC (3 UTF-8
// bytes each); nothing else changes (non-ASCII letters keep their case).
//
// Scoring charges the *original* bytes: a control character counts 0, an escaped one its own 3,
// every other character its UTF-8 length (lowercasing ASCII keeps lengths). Each token's count
// goes into a per-token byte sidecar of the validation stream (val_token_bytes.bin, below), which
// the evaluator reads instead of the SentencePiece table rule (ByteTable::target_bytes).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace golf {

constexpr const char* kCaseOpsName = "caseops_v1";
constexpr const char* kCaseOpsTitle = "\xEE\x80\x81";    // U+E001
constexpr const char* kCaseOpsAllCaps = "\xEE\x80\x82";  // U+E002
constexpr const char* kCaseOpsCapNext = "\xEE\x80\x83";  // U+E003
constexpr const char* kCaseOpsEsc = "\xEE\x80\x84";      // U+E004

std::string caseops_encode(std::string_view text);
// The inverse; throws std::runtime_error naming `source` and the byte offset on text that no
// encoding produces (a dangling marker, a marker inside a word, ...).
std::string caseops_decode(std::string_view text, const std::string& source);
// The inverse of text a model wrote (decode --generate), which need not be CaseOps text: each place
// caseops_decode would refuse is counted in `repaired` instead, a marker there dropped (it applies
// to no letter) and a capital letter kept; CaseOps text decodes exactly as caseops_decode does it.
std::string caseops_decode_lenient(std::string_view text, int64_t& repaired);

// Original UTF-8 bytes of each token of one transformed document. Token i covers the transformed
// text from begins[i] (0 for the first) to begins[i + 1] (the end for the last), so the counts
// always sum to the document's original byte length, whatever SentencePiece normalized away.
std::vector<uint16_t> caseops_token_bytes(std::string_view transformed, const std::vector<size_t>& begins);
// The original byte length of a transformed text (the sum above over the whole text).
uint64_t caseops_original_bytes(std::string_view transformed);

// The sidecar file: magic "GOLFTOKB", u32 version 1, u32 zero, u64 count, then count u16 (little
// endian), one per token of the val stream in stream order (BOS: 0).
void write_token_bytes(const std::string& path, const std::vector<uint16_t>& bytes);
// Throws naming the path on a wrong magic, version, length or count.
std::vector<uint16_t> read_token_bytes(const std::string& path);

}  // namespace golf
