#include "base/secret.h"

#include <cstdlib>

#include "base/file_util.h"

namespace lockpipe {

void Secret::Wipe() {
  // volatile so the compiler cannot drop the stores to a dying buffer.
  volatile char* p = value_.data();
  for (std::size_t i = 0; i < value_.size(); ++i) p[i] = 0;
  value_.clear();
}

Result<Secret> LoadSecret(const SecretSource& source, const std::string& what) {
  int given = !source.literal.empty() + !source.file.empty() + !source.env.empty();
  if (given == 0) return InvalidArgument("no " + what + " given");
  if (given > 1)
    return InvalidArgument("give the " + what +
                           " one way only (value, file or environment variable)");
  if (!source.literal.empty()) return Secret(source.literal);
  if (!source.env.empty()) {
    const char* v = std::getenv(source.env.c_str());
    if (v == nullptr || *v == '\0')
      return InvalidArgument(what + ": environment variable " + source.env +
                             " is not set or empty");
    return Secret(v);
  }
  ASSIGN_OR_RETURN(std::string text, ReadTextFile(source.file));
  Secret guard(std::move(text));  // wipes the raw copy when we return
  std::string value = guard.reveal();
  if (auto nl = value.find_first_of("\r\n"); nl != std::string::npos) value.resize(nl);
  if (value.empty()) return InvalidArgument(what + ": file " + source.file + " is empty");
  return Secret(std::move(value));
}

}  // namespace lockpipe
