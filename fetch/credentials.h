// Where the cloud client's identity comes from: the client id and access
// secret (from the environment or a private config file), and which host to
// talk to (a region name or any base URL).
//
// Config file format (documented in `lockpipe api --help`): one `key = value`
// per line, '#' starts a comment line, blank lines ignored, values may be
// wrapped in double quotes. Keys: client_id, client_secret (aliases
// access_id, access_secret), and optionally region or endpoint. The file must
// not be readable or writable by group or others (chmod 600), or it is
// refused.
//
// All functions are thread-safe (they read the environment and files only).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "fetch/http_client.h"
#include "fetch/tuya_client.h"
#include "fetch/tuya_lock_api.h"

namespace lockpipe {

struct CredentialsFile {
  TuyaCredentials credentials;
  std::string region;    // "" when not given
  std::string endpoint;  // "" when not given
};

// Reads and checks a config file (permissions first, then syntax; unknown
// keys are errors naming the line). Fails with kPermissionDenied ("... chmod
// 600 FILE"), kNotFound, or kInvalidArgument.
Result<CredentialsFile> ReadCredentialsFile(const std::string& path);

// TUYA_CLIENT_ID and TUYA_CLIENT_SECRET. kNotFound naming the missing variable.
Result<TuyaCredentials> CredentialsFromEnv();

// The documented hosts: cn, us, us-east, eu, eu-west, in → "https://openapi...".
Result<std::string> RegionBaseUrl(const std::string& region);
std::vector<std::string> RegionNames();

// Resolves where to connect and as whom, in this order of precedence:
// endpoint / region arguments, then the file's endpoint / region; credentials
// from the file if given, else the environment. Default region: none (an
// error asks for --endpoint or --region).
struct ApiTarget {
  std::string base_url;
  TuyaCredentials credentials;
};
Result<ApiTarget> ResolveApiTarget(const std::string& credentials_file, const std::string& endpoint,
                                   const std::string& region);

// Builds a TuyaLockApi for one thread over a new CurlHttpClient.
Result<std::unique_ptr<TuyaLockApi>> MakeTuyaLockApi(std::shared_ptr<TokenManager> tokens,
                                                     const CurlOptions& http,
                                                     RetryPolicy retry = {});

}  // namespace lockpipe
