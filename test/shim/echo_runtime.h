// A fake container runtime for proxy tests: a gRPC generic callback server on a unix socket that
// answers every method by echoing the request bytes, and records what it saw (metadata, deadline,
// cancellation). Behaviour, chosen by the method or by the request bytes so that any method
// (unary fast path or stream relay in the proxy) can be made to show it:
//   request "fail"           answers FAILED_PRECONDITION with a message and binary error details
//   request "slow"           waits until cancelled or for up to 1 s, then echoes
//   request "split…"         echoes, then sends the status in a separate batch (as Go servers do)
//   .../GetContainerEvents   streams `stream_count` copies of the request, then waits for cancellation
//   anything else            one echo of the request
// Initial metadata "x-runtime-initial: hello" and trailing "x-runtime-trailing: bye" are always sent.
#ifndef SIGSHIM_TEST_SHIM_ECHO_RUNTIME_H_
#define SIGSHIM_TEST_SHIM_ECHO_RUNTIME_H_

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"

namespace sigshim::testing {

struct SeenCall {
  std::string method;
  std::multimap<std::string, std::string> metadata;
  std::chrono::system_clock::time_point deadline;
  std::string request;
  bool cancelled = false;
};

class EchoRuntime {
 public:
  // Starts serving on the unix socket `path`.
  explicit EchoRuntime(const std::string& path, int stream_count = 3);
  ~EchoRuntime();

  // Returns a copy of the most recent call to `method`, waiting up to 5 s for one to arrive.
  SeenCall WaitForCall(const std::string& method);
  // Waits up to 5 s for the most recent call to `method` to be cancelled; returns whether it was.
  bool WaitForCancel(const std::string& method);
  int calls() const;

 private:
  class Service;
  class Reactor;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace sigshim::testing

#endif  // SIGSHIM_TEST_SHIM_ECHO_RUNTIME_H_
