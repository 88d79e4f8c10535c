#include "test/bench/bench_util.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "pkg/base/file.h"

namespace sigshim::bench {

double CpuMicros(pid_t pid) {
  FILE* f = fopen(absl::StrCat("/proc/", pid, "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char buf[4096];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const char* p = strrchr(buf, ')');
  if (p == nullptr) return 0;
  unsigned long utime = 0, stime = 0;
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
  return (utime + stime) * 1e6 / sysconf(_SC_CLK_TCK);
}

double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t idx = static_cast<size_t>(p * (samples.size() - 1) + 0.5);
  return samples[std::min(idx, samples.size() - 1)];
}

std::string LoadAverage() {
  auto text = ReadFile("/proc/loadavg", 256);
  if (!text.ok()) return "?";
  std::string s = *text;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::string ExecutablePath(const char* fallback) {
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  return len > 0 ? std::string(self, static_cast<size_t>(len)) : std::string(fallback);
}

}  // namespace sigshim::bench
