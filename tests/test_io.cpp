// tests/test_io.cpp: the safetensors reader and the bundle layer against a table of
// hand-corrupted files (in the manner of llama.cpp's tests/test-gguf.cpp): each must be
// refused with its own message, never crash, hang or over-allocate.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "st_builder.hpp"
#include "tailor/io/bundle.hpp"
#include "tailor/io/safetensors.hpp"
#include "tailor/models/registry.hpp"

using namespace tailor;
using namespace tailor::test;
using nlohmann::json;

namespace {

// One data section of 3 tensors used by most corruptions: a F32 [2,2] (16 bytes), a F16 [3]
// (6 bytes), a BF16 [1] (2 bytes).
const std::string kData(24, '\x01');
std::string header_with(const std::string& a, const std::string& b = R"("b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]})",
                        const std::string& c = R"("c":{"dtype":"BF16","shape":[1],"data_offsets":[22,24]})") {
  std::string h = "{" + a;
  if (!b.empty()) h += "," + b;
  if (!c.empty()) h += "," + c;
  return h + "}";
}
const std::string kA = R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";

std::string open_error(const std::string& bytes, const Limits& lim = {}) {
  try {
    SafetensorsFile::from_memory(bytes.data(), bytes.size(), "bad.safetensors", lim);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::format);
    CHECK_FALSE(e.hint().empty());
    return e.message();
  }
  return "<accepted>";
}

std::string bundle_error(const std::string& bytes) {
  try {
    Bundle b = Bundle::from_memory(bytes.data(), bytes.size(), "bad.safetensors");
    validate_bundle(b);
  } catch (const Error& e) {
    return e.message();
  }
  return "<accepted>";
}

}  // namespace

TEST_CASE("a well-formed file is accepted, in offset order") {
  const std::string f = st_bytes(header_with(kA), kData);
  auto st = SafetensorsFile::from_memory(f.data(), f.size());
  REQUIRE(st.tensors().size() == 3);
  CHECK(st.tensors()[0].name == "a");
  CHECK(st.get("b").shape == Shape{3});
  CHECK(st.get("c").dtype == DType::BF16);
  CHECK(st.data_offset() == 8 + header_with(kA).size());
  // Tensors listed out of offset order, trailing header spaces and zero-size tensors are fine.
  const std::string h = R"({"c":{"dtype":"BF16","shape":[1],"data_offsets":[22,24]},"z":{"dtype":"F32","shape":[0,5],"data_offsets":[16,16]},)" +
                        kA + R"(,"b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]}}    )";
  const std::string g = st_bytes(h, kData);
  auto st2 = SafetensorsFile::from_memory(g.data(), g.size());
  CHECK(st2.tensors().size() == 4);
  CHECK(st2.get("z").numel() == 0);
  CHECK(st2.get("z").shape == Shape{0, 5});
  // An empty file with just "{}" is a valid (empty) safetensors file.
  const std::string e = st_bytes("{}", "");
  CHECK(SafetensorsFile::from_memory(e.data(), e.size()).tensors().empty());
}

struct Corruption {
  const char* what;
  std::string bytes;
  const char* expect;  // substring of the error message
  Limits limits = {};
};

TEST_CASE("hand-corrupted safetensors files are each refused with their own message") {
  const std::string good_header = header_with(kA);
  Limits small;
  small.max_tensors = 2;
  Limits uncapped;
  uncapped.max_header_bytes = UINT64_MAX;
  std::string nested = "{\"a\":{\"dtype\":";
  for (int i = 0; i < 100000; ++i) nested += '[';
  const std::string long_name(5000, 'n');

  std::vector<Corruption> cases = {
      {"empty file", "", "is 0 bytes long"},
      {"7 bytes", std::string(7, '\0'), "is 7 bytes long"},
      {"header length over the cap", st_bytes(good_header, kData, 200'000'000), "exceeds the limit"},
      {"header length past the end", st_bytes(good_header, kData, good_header.size() + kData.size() + 1),
       "runs past the end of the file"},
      {"header length overflowing 8 + N", st_bytes(good_header, kData, UINT64_MAX - 3), "runs past the end", uncapped},
      {"header length 0", st_bytes("", kData, 0), "does not start with '{'"},
      {"header not an object", st_bytes("[1,2]", ""), "does not start with '{'"},
      {"truncated JSON", st_bytes(good_header.substr(0, good_header.size() - 5), ""), "not valid JSON"},
      {"garbage after the object", st_bytes(good_header + "xyz", kData), "not valid JSON"},
      {"invalid UTF-8 in a name", st_bytes("{\"\xff\xfe\":{}}", ""), "not valid JSON"},
      {"unknown dtype", st_bytes(header_with(R"("a":{"dtype":"F33","shape":[2,2],"data_offsets":[0,16]})"), kData),
       "unknown dtype 'F33'"},
      {"dtype not a string", st_bytes(header_with(R"("a":{"dtype":4,"shape":[2,2],"data_offsets":[0,16]})"), kData),
       "'dtype' has the wrong type"},
      {"negative dimension", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[-2,2],"data_offsets":[0,16]})"), kData),
       "negative value -2"},
      {"fractional dimension", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[2.5,2],"data_offsets":[0,16]})"), kData),
       "not a non-negative integer"},
      {"dimension beyond 2^64", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[99999999999999999999999,2],"data_offsets":[0,16]})"), kData),
       "not a non-negative integer below 2^64"},
      {"dimension beyond 2^63", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,16]})"), kData),
       "over 2^63"},
      {"element count overflow", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]})"), kData),
       "overflows 64-bit sizes"},
      {"byte size overflow (numel fits, x4 does not)", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[4611686018427387904,2],"data_offsets":[0,16]})"), kData),
       "overflows 64-bit sizes"},
      {"shape disagrees with the byte span", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]})"), kData),
       "needs 24 bytes but data_offsets span 16"},
      {"reversed offsets", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[16,0]})"), kData),
       "are reversed"},
      {"offsets past the end of the data", st_bytes(header_with(kA, R"("b":{"dtype":"F16","shape":[3],"data_offsets":[16,22]})", R"("c":{"dtype":"BF16","shape":[1],"data_offsets":[1000,1002]})"), kData),
       "past the end of the file"},
      {"overlapping tensors", st_bytes(header_with(kA, R"("b":{"dtype":"F16","shape":[3],"data_offsets":[14,20]})", R"("c":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]})"), kData),
       "overlaps tensor 'a'"},
      {"gap between tensors", st_bytes(header_with(kA, R"("b":{"dtype":"F16","shape":[2],"data_offsets":[16,20]})", R"("c":{"dtype":"BF16","shape":[1],"data_offsets":[22,24]})"), kData),
       "unused bytes before tensor 'c'"},
      {"first tensor not at offset 0", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[4,20]})", "", ""), std::string(20, '\0')),
       "4 unused bytes before tensor 'a'"},
      {"trailing bytes", st_bytes(good_header, kData + "junk"), "4 trailing bytes after the last tensor"},
      {"duplicate tensor name", st_bytes(header_with(kA, kA), kData), "names 'a' twice"},
      {"duplicate key in a tensor", st_bytes(header_with(R"("a":{"dtype":"F32","dtype":"F32","shape":[2,2],"data_offsets":[0,16]})"), kData),
       "has the key 'dtype' twice"},
      {"duplicate metadata key", st_bytes(header_with(R"("__metadata__":{"k":"1","k":"2"})", kA), kData),
       "__metadata__ has the key 'k' twice"},
      {"missing dtype", st_bytes(header_with(R"("a":{"shape":[2,2],"data_offsets":[0,16]})"), kData), "has no dtype"},
      {"missing shape", st_bytes(header_with(R"("a":{"dtype":"F32","data_offsets":[0,16]})"), kData), "has no shape"},
      {"missing data_offsets", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[2,2]})"), kData), "has no data_offsets"},
      {"unexpected key", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16],"crc":1})"), kData),
       "unexpected key 'crc'"},
      {"three data_offsets", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16,16]})"), kData),
       "more than 2 entries"},
      {"one data_offset", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0]})"), kData),
       "needs exactly 2 entries"},
      {"rank 9", st_bytes(header_with(R"("a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,4],"data_offsets":[0,16]})"), kData),
       "more than 8 dimensions"},
      {"tensor entry not an object", st_bytes(header_with(R"("a":"F32")", "", ""), ""), "is a string, not an object"},
      {"metadata value not a string", st_bytes(header_with(R"("__metadata__":{"tailor.format":1})", kA), kData),
       "__metadata__['tailor.format'] is a number, not a string"},
      {"nested arrays 100000 deep", st_bytes(nested, ""), "has the wrong type (an array)"},
      {"tensor name over the length limit", st_bytes("{\"" + long_name + "\":{}}", ""), "bytes long (limit 4096)"},
      {"more tensors than the limit", st_bytes(good_header, kData), "more than 2 tensors", small},
      {"Git LFS pointer", "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 90868376\n",
       "Git LFS pointer"},
      {"HTML page", "\n  <!DOCTYPE html>\n<html><body>404 Not Found</body></html>", "HTML/XML page"},
      {"PyTorch zip checkpoint", std::string("PK\x03\x04", 4) + std::string(60, '\0'), "zip archive"},
      {"pickle checkpoint", std::string("\x80\x02\x8a\x0a", 4) + std::string(60, '\0'), "Python pickle"},
      {"GGUF file", "GGUF\x03\x00\x00\x00" + std::string(60, '\0'), "GGUF"},
  };
  CHECK(cases.size() >= 25);
  for (const auto& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    const std::string msg = open_error(c.bytes, c.limits);
    CAPTURE(msg);
    CHECK(msg.find(c.expect) != std::string::npos);
    CHECK(msg.find("bad.safetensors") == 0);  // names the file
  }
}

TEST_CASE("every truncation of a valid file is refused cleanly") {
  const std::string f = st_bytes(header_with(kA), kData);
  for (size_t n = 0; n < f.size(); ++n) {
    CAPTURE(n);
    CHECK(open_error(f.substr(0, n)) != "<accepted>");
  }
}

TEST_CASE("tensors convert to float32 from F32, F16 and BF16") {
  StTensor a = f32_tensor("a", {2, 3});
  StTensor h{"h", DType::F16, {4}, {}};
  StTensor b{"b", DType::BF16, {3}, {}};
  const float hv[4] = {1.0f, -2.5f, 65504.f, std::ldexp(1.0f, -24)};
  const float bv[3] = {1.0f, -3.0f, 1e30f};
  for (float v : hv) { const uint16_t x = f32_to_f16(v); h.bytes.append(reinterpret_cast<const char*>(&x), 2); }
  for (float v : bv) { const uint16_t x = f32_to_bf16(v); b.bytes.append(reinterpret_cast<const char*>(&x), 2); }
  StTensor i{"i", DType::I64, {1}, std::string(8, '\0')};
  const std::string f = st_file({a, h, b, i}, {});
  auto st = SafetensorsFile::from_memory(f.data(), f.size());
  const auto av = st.to_f32(st.get("a"));
  REQUIRE(av.size() == 6);
  for (size_t k = 0; k < 6; ++k) CHECK(av[k] == doctest::Approx(0.25f * float(k) - 3.f));
  const auto hv2 = st.to_f32(st.get("h"));
  for (size_t k = 0; k < 4; ++k) CHECK(hv2[k] == hv[k]);
  const auto bv2 = st.to_f32(st.get("b"));
  CHECK(bv2[0] == 1.0f);
  CHECK(bv2[1] == -3.0f);
  CHECK(bv2[2] == bf16_to_f32(f32_to_bf16(1e30f)));
  CHECK_THROWS_WITH_AS(st.to_f32(st.get("i")), doctest::Contains("has dtype I64"), Error);
  CHECK_THROWS_WITH_AS(st.get("nope"), doctest::Contains("'nope' is missing"), Error);
}

TEST_CASE("find_non_finite reports the first NaN / Inf, wherever it falls in the scan's blocks") {
  const int64_t n = 12345;  // three 4096-element blocks and a partial one
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    for (int64_t pos : {int64_t(-1), int64_t(0), int64_t(4095), int64_t(4096), int64_t(8200), n - 1}) {
      for (int kind = 0; kind < 3; ++kind) {  // NaN, +Inf, -Inf
        CAPTURE(int(dt));
        CAPTURE(pos);
        CAPTURE(kind);
        const float bad = kind == 0 ? std::nanf("") : (kind == 1 ? INFINITY : -INFINITY);
        StTensor t{"t", dt, {n}, {}};
        for (int64_t i = 0; i < n; ++i) {
          // Finite values of every magnitude, the largest finite of each dtype included.
          float v = i == pos ? bad : (i % 7 == 0 ? (dt == DType::F16 ? 65504.f : 3.0e38f) : float(i % 13) - 6.5f);
          if (pos >= 0 && i == pos + 3) v = bad;  // a second bad element: the first must be reported
          if (dt == DType::F32) t.bytes.append(reinterpret_cast<const char*>(&v), 4);
          else {
            const uint16_t x = dt == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
            t.bytes.append(reinterpret_cast<const char*>(&x), 2);
          }
        }
        const std::string f = st_file({t}, {});
        auto st = SafetensorsFile::from_memory(f.data(), f.size());
        const auto found = st.find_non_finite(st.get("t"));
        if (pos < 0) CHECK_FALSE(found.has_value());
        else {
          REQUIRE(found.has_value());
          CHECK(int64_t(*found) == pos);
        }
      }
    }
  }
}

TEST_CASE("a file on disk opens through mmap and through read") {
  const std::string f = st_file({f32_tensor("w", {3})}, {{"k", "v"}});
  const std::string path = "test_io_tmp.safetensors";
  { std::ofstream(path, std::ios::binary) << f; }
  for (bool mmap : {true, false}) {
    auto st = SafetensorsFile::open(path, {}, mmap);
    CHECK(st.meta("k").value() == "v");
    CHECK(st.to_f32(st.get("w"))[2] == doctest::Approx(-2.5f));
  }
  std::remove(path.c_str());
  CHECK_THROWS_WITH_AS(SafetensorsFile::open(path), doctest::Contains("No such file"), Error);
  CHECK_THROWS_WITH_AS(SafetensorsFile::open("."), doctest::Contains("not a regular file"), Error);
}

// ---- the bundle layer --------------------------------------------------------------------

namespace {
std::string tiny_bert_bundle(json cfg = tiny_bert_config(), std::string vocab = tiny_vocab(),
                             std::map<std::string, std::string> extra_meta = {},
                             void (*edit)(std::vector<StTensor>&) = nullptr) {
  const BertConfig c = BertConfig::from_json(cfg, "test");
  auto ts = tensors_for(c.tensor_specs());
  if (edit) edit(ts);
  auto meta = bundle_meta("bert", cfg, vocab);
  for (auto& [k, v] : extra_meta) meta[k] = v;
  return st_file(ts, meta);
}
}  // namespace

TEST_CASE("a valid tiny BERT bundle validates") {
  const std::string f = tiny_bert_bundle();
  Bundle b = Bundle::from_memory(f.data(), f.size(), "tiny.safetensors");
  CHECK(b.arch() == "bert");
  CHECK(b.config()["hidden_size"] == 4);
  const BundleReport r = validate_bundle(b);
  REQUIRE(r.parts.size() == 1);
  CHECK(r.parts[0].find("1 layers, hidden 4, 2 heads") != std::string::npos);
  CHECK(b.load_f32("pooler.dense.bias", {4}).size() == 4);
  CHECK_THROWS_WITH_AS(b.load_f32("pooler.dense.bias", {5}), doctest::Contains("has shape [4] but the config needs [5]"), Error);
}

TEST_CASE("view_f32 gives the tensor's float32 values: in place when aligned F32, else converted") {
  StTensor h{"h", DType::F16, {3}, {}};  // 6 bytes: the next tensor starts 2 bytes past a float boundary
  for (float v : {1.5f, -2.f, 0.25f}) { const uint16_t x = f32_to_f16(v); h.bytes.append(reinterpret_cast<const char*>(&x), 2); }
  const std::vector<StTensor> ts = {f32_tensor("a", {2, 5}), h, f32_tensor("misaligned", {7}, 1.f), f32_tensor("b", {3}, 2.f)};
  const std::string f = st_file(ts, bundle_meta("bert", tiny_bert_config(), tiny_vocab()));
  const Bundle b = Bundle::from_memory(f.data(), f.size(), "views.safetensors");
  for (const auto& ns : {std::pair<std::string, Shape>{"a", Shape{2, 5}}, {"h", Shape{3}}, {"misaligned", Shape{7}},
                         {"b", Shape{3}}}) {
    const std::string& name = ns.first;  // not a structured binding: CAPTURE's lambda needs a variable
    const Shape& shape = ns.second;
    CAPTURE(name);
    const std::vector<float> want = b.load_f32(name, shape);
    F32View v = b.view_f32(name, shape);
    const F32View moved = std::move(v);  // a converted copy survives the move
    REQUIRE(moved.size() == want.size());
    CHECK(std::equal(want.begin(), want.end(), moved.data()));
  }
  CHECK_THROWS_WITH_AS(b.view_f32("a", {10}), doctest::Contains("has shape [2, 5] but the config needs [10]"), Error);
}

TEST_CASE("hand-corrupted bundles are each refused with their own message") {
  json deep = tiny_bert_config();
  std::string deep_cfg = "{\"a\":";
  for (int i = 0; i < 100; ++i) deep_cfg += "[";
  json heads = tiny_bert_config();
  heads["num_attention_heads"] = 3;
  json vocab0 = tiny_bert_config();
  vocab0["vocab_size"] = 0;
  json act = tiny_bert_config();
  act["hidden_act"] = "swish";
  json layers_str = tiny_bert_config();
  layers_str["num_hidden_layers"] = "1";
  json huge_hidden = tiny_bert_config();
  huge_hidden["hidden_size"] = 1ll << 40;
  json big_pos = tiny_bert_config();
  const BertConfig c = BertConfig::from_json(tiny_bert_config(), "t");

  struct Case { const char* what; std::string bytes; const char* expect; };
  std::vector<Case> cases = {
      {"plain safetensors, no tailor metadata", st_file(tensors_for(c.tensor_specs()), {}), "plain safetensors file"},
      {"future format version", tiny_bert_bundle(tiny_bert_config(), tiny_vocab(), {{"tailor.format", "2"}}), "bundle format '2'"},
      {"unknown architecture", tiny_bert_bundle(tiny_bert_config(), tiny_vocab(), {{"tailor.arch", "gpt2"}}),
       "unknown architecture 'gpt2'"},
      {"config not JSON", tiny_bert_bundle(tiny_bert_config(), tiny_vocab(), {{"tailor.config", "{hidden: 4"}}),
       "tailor.config is not valid JSON"},
      {"config too deep", tiny_bert_bundle(tiny_bert_config(), tiny_vocab(), {{"tailor.config", deep_cfg}}), "nests deeper than 32"},
      {"config an array", tiny_bert_bundle(tiny_bert_config(), tiny_vocab(), {{"tailor.config", "[1]"}}), "not a JSON object"},
      {"transforms not a list", tiny_bert_bundle(tiny_bert_config(), tiny_vocab(), {{"tailor.transforms", "\"bn\""}}),
       "tailor.transforms is not a JSON array"},
      {"heads do not divide hidden", st_file(tensors_for(c.tensor_specs()), bundle_meta("bert", heads, tiny_vocab())),
       "does not divide hidden_size"},
      {"vocab_size 0", st_file(tensors_for(c.tensor_specs()), bundle_meta("bert", vocab0, tiny_vocab())), "is 0, outside 1.."},
      {"unsupported activation", st_file(tensors_for(c.tensor_specs()), bundle_meta("bert", act, tiny_vocab())),
       "is 'swish'; supported: gelu"},
      {"integer given as a string", st_file(tensors_for(c.tensor_specs()), bundle_meta("bert", layers_str, tiny_vocab())),
       "'num_hidden_layers' is not an integer"},
      {"absurd hidden size", st_file(tensors_for(c.tensor_specs()), bundle_meta("bert", huge_hidden, tiny_vocab())),
       "'hidden_size' is 1099511627776, outside"},
      {"NaN weight", tiny_bert_bundle(tiny_bert_config(), tiny_vocab(), {}, [](std::vector<StTensor>& ts) {
         const float nan = std::nanf("");
         std::memcpy(&ts[3].bytes[4], &nan, 4);
       }), "'embeddings.LayerNorm.weight' holds a NaN or Inf at element 1"},
      {"wrong shape", tiny_bert_bundle(tiny_bert_config(), tiny_vocab(), {}, [](std::vector<StTensor>& ts) {
         ts[5] = f32_tensor(ts[5].name, {4, 2}, 0.f);  // query.weight should be [4, 4]
         ts[5].bytes.resize(32);
       }), "has shape [4, 2] but the config needs [4, 4]"},
      {"missing tensor", tiny_bert_bundle(tiny_bert_config(), tiny_vocab(), {}, [](std::vector<StTensor>& ts) {
         ts.erase(ts.begin() + 7);
       }), "missing tensors: encoder.layer.0.attention.self.key.weight"},
      {"extra tensor", tiny_bert_bundle(tiny_bert_config(), tiny_vocab(), {}, [](std::vector<StTensor>& ts) {
         ts.push_back(f32_tensor("encoder.layer.1.attention.self.query.weight", {4, 4}));
       }), "unexpected tensor 'encoder.layer.1.attention.self.query.weight'"},
      {"integer weights", tiny_bert_bundle(tiny_bert_config(), tiny_vocab(), {}, [](std::vector<StTensor>& ts) {
         ts[3].dtype = DType::I32;
       }), "has dtype I32"},
      {"vocab does not match vocab_size", tiny_bert_bundle(tiny_bert_config(), "[PAD]\n[UNK]\n"), "tailor.vocab has 2 tokens but"},
      {"no vocab", tiny_bert_bundle(tiny_bert_config(), ""), "has no tailor.vocab"},
  };
  for (const auto& k : cases) {
    const std::string what = k.what;
    CAPTURE(what);
    const std::string msg = bundle_error(k.bytes);
    CAPTURE(msg);
    CHECK(msg.find(k.expect) != std::string::npos);
  }
}

TEST_CASE("ResNet bundles: BN must be folded and shapes follow the block counts") {
  json cfg = {{"layers", {1, 1, 1, 1}}, {"num_classes", 3}};
  const ResNetConfig c = ResNetConfig::from_json(cfg, "t");
  const auto specs = c.tensor_specs();
  CHECK(specs.size() == 2 + 4 * 8 + 2);
  std::vector<StTensor> ts;
  for (const auto& s : specs) { StTensor t{s.name, DType::F32, s.shape, std::string(size_t(s.shape.numel()) * 4, '\0')}; ts.push_back(t); }
  auto meta = bundle_meta("resnet50", cfg);
  const std::string unfolded = st_file(ts, meta);
  CHECK(bundle_error(unfolded).find("without BatchNorm folded") != std::string::npos);
  meta["tailor.transforms"] = "[\"bn_folded\"]";
  const std::string ok = st_file(ts, meta);
  CHECK(bundle_error(ok) == "<accepted>");
  json bad = cfg;
  bad["layers"] = {1, 1, 1};
  CHECK(bundle_error(st_file(ts, bundle_meta("resnet50", bad))).find("list of 4 block counts") != std::string::npos);
  // The standard ResNet50 implies 25.6 M parameters with its 1000-class fc.
  const ResNetConfig r50 = ResNetConfig::from_json(json::object(), "t");
  int64_t params = 0;
  for (const auto& s : r50.tensor_specs()) params += s.shape.numel();
  CHECK(params == 25'530'472);  // torchvision's 25,557,032 minus the BN parameters folded away (26,560)
}
