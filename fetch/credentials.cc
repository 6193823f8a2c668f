#include "fetch/credentials.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>

#include "base/file_util.h"

namespace lockpipe {
namespace {

struct Region {
  const char* name;
  const char* url;
};
// tuya-openapi-notes: the data centres' OpenAPI hosts. "us-e" and "eu-w" are
// the short names some SDKs and older configs use.
constexpr Region kRegions[] = {
    {"cn", "https://openapi.tuyacn.com"},           {"us", "https://openapi.tuyaus.com"},
    {"us-east", "https://openapi-ueaz.tuyaus.com"}, {"us-e", "https://openapi-ueaz.tuyaus.com"},
    {"eu", "https://openapi.tuyaeu.com"},           {"eu-west", "https://openapi-weaz.tuyaeu.com"},
    {"eu-w", "https://openapi-weaz.tuyaeu.com"},    {"in", "https://openapi.tuyain.com"},
};

std::string Trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

std::vector<std::string> RegionNames() {
  std::vector<std::string> out;
  for (const auto& r : kRegions) out.emplace_back(r.name);
  return out;
}

Result<std::string> RegionBaseUrl(const std::string& region) {
  for (const auto& r : kRegions) {
    if (region == r.name) return std::string(r.url);
  }
  return InvalidArgument("unknown region '" + region +
                         "' (known: cn, us, us-east, eu, eu-west, in; or give --endpoint URL)");
}

Result<CredentialsFile> ReadCredentialsFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return NotFound("credentials file " + path + ": " + ErrnoText(errno));
  }
  if (!S_ISREG(st.st_mode))
    return InvalidArgument("credentials file " + path + ": not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return PermissionDenied("credentials file " + path +
                            " is accessible by group or others (mode " + mode +
                            "); it holds the access secret: run 'chmod 600 " + path + "'");
  }
  ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  CredentialsFile out;
  std::string secret;
  int line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = Trim(text.substr(pos, nl - pos));
    pos = nl + 1;
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    const std::string where = "credentials file " + path + " line " + std::to_string(line_no);
    if (eq == std::string::npos) return InvalidArgument(where + ": expected 'key = value'");
    std::string key = Trim(line.substr(0, eq));
    std::string value = Trim(line.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (key == "client_id" || key == "access_id") {
      out.credentials.client_id = value;
    } else if (key == "client_secret" || key == "access_secret") {
      secret = value;
    } else if (key == "region") {
      out.region = value;
    } else if (key == "endpoint") {
      out.endpoint = value;
    } else {
      return InvalidArgument(where + ": unknown key '" + key +
                             "' (known: client_id, client_secret, region, endpoint)");
    }
  }
  out.credentials.access_secret = Secret(std::move(secret));
  if (out.credentials.client_id.empty())
    return InvalidArgument("credentials file " + path + ": no client_id");
  if (out.credentials.access_secret.empty())
    return InvalidArgument("credentials file " + path + ": no client_secret");
  return out;
}

Result<TuyaCredentials> CredentialsFromEnv() {
  const char* id = std::getenv("TUYA_CLIENT_ID");
  const char* secret = std::getenv("TUYA_CLIENT_SECRET");
  if (id == nullptr || *id == '\0')
    return NotFound("TUYA_CLIENT_ID is not set (or give --credentials FILE)");
  if (secret == nullptr || *secret == '\0')
    return NotFound("TUYA_CLIENT_SECRET is not set (or give --credentials FILE)");
  return TuyaCredentials{id, Secret(secret)};
}

Result<ApiTarget> ResolveApiTarget(const std::string& credentials_file, const std::string& endpoint,
                                   const std::string& region) {
  ApiTarget target;
  std::string file_endpoint;
  std::string file_region;
  if (!credentials_file.empty()) {
    ASSIGN_OR_RETURN(CredentialsFile f, ReadCredentialsFile(credentials_file));
    target.credentials = std::move(f.credentials);
    file_endpoint = f.endpoint;
    file_region = f.region;
  } else {
    ASSIGN_OR_RETURN(target.credentials, CredentialsFromEnv());
  }
  if (!endpoint.empty()) {
    target.base_url = endpoint;
  } else if (!region.empty()) {
    ASSIGN_OR_RETURN(target.base_url, RegionBaseUrl(region));
  } else if (!file_endpoint.empty()) {
    target.base_url = file_endpoint;
  } else if (!file_region.empty()) {
    ASSIGN_OR_RETURN(target.base_url, RegionBaseUrl(file_region));
  } else {
    return InvalidArgument(
        "no server: give --endpoint URL or --region (cn, us, us-east, eu, "
        "eu-west, in)");
  }
  if (target.base_url.rfind("http://", 0) != 0 && target.base_url.rfind("https://", 0) != 0)
    return InvalidArgument("endpoint '" + target.base_url +
                           "' must start with http:// or https://");
  return target;
}

Result<std::unique_ptr<TuyaLockApi>> MakeTuyaLockApi(std::shared_ptr<TokenManager> tokens,
                                                     const CurlOptions& http, RetryPolicy retry) {
  ASSIGN_OR_RETURN(std::unique_ptr<CurlHttpClient> client, CurlHttpClient::Create(http));
  return std::make_unique<TuyaLockApi>(
      std::make_unique<TuyaClient>(std::move(client), std::move(tokens), std::move(retry)));
}

}  // namespace lockpipe
