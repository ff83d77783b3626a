// tests/consumer/main.cpp: what a host program does first: include tailor, open a bundle
// (here a tiny one built in memory), catch tailor::Error.
#include <tailor/tailor.hpp>

#include <cstdio>
#include <cstring>
#include <string>

int main() {
  // A bundle with no tensors is refused; the host gets an error it can print, not a crash.
  const char bytes[] = "\x02\x00\x00\x00\x00\x00\x00\x00{}";
  try {
    tailor::Bundle::from_memory(bytes, sizeof bytes - 1, "empty.safetensors");
    std::puts("unexpected: accepted");
    return 1;
  } catch (const tailor::Error& e) {
    if (std::strstr(e.what(), "plain safetensors file") == nullptr) return 1;
  }
  std::printf("consumer OK: tailor %s\n", TAILOR_VERSION_STRING);
  return 0;
}
