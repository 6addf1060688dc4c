// subtransaction.hpp: runs a piece of work in an internal subtransaction and
// hands back its error instead of raising it. The run's batches, the archive
// stage and restore use it to tell a failed batch (rolled back, recorded,
// maybe retried) from the run going on. The callable must hold only
// trivially destructible values: an error longjmps out of it.
#pragma once

#include <type_traits>

struct ErrorData;

namespace pg_retention::pg {

// fn(arg) in a subtransaction: nullptr when it committed, else the error
// (copied into the caller's memory context) with the subtransaction rolled
// back. CurrentMemoryContext and CurrentResourceOwner are as before.
ErrorData* RunInSubtransaction(void (*fn)(void*), void* arg);

template <typename Fn>
ErrorData* InSubtransaction(Fn&& f) {
  using Callable = std::remove_reference_t<Fn>;
  return RunInSubtransaction([](void* p) { (*static_cast<Callable*>(p))(); }, &f);
}

}  // namespace pg_retention::pg
