// lockpipe api: one call of the lock cloud's remote-unlocking API, by hand.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/json_text.h"
#include "base/log.h"
#include "fetch/credentials.h"
#include "fetch/tuya_lock_api.h"
#include "pipeline/cli/command.h"

namespace lockpipe::cli {
namespace {

const char kCmd[] = "api";

const char kDetails[] =
    "Calls:\n"
    "  remote-unlocks          GET the remote-unlock methods and whether each is on\n"
    "  set-switch              turn a method on or off (--type, --open true|false)\n"
    "  ticket                  get a password ticket (prints ticket_id, ticket_key, expire_time)\n"
    "  open-with-password      open with the 6-digit password (--password-file or "
    "--password-env);\n"
    "                          always fetches a fresh ticket, encrypts the password under it\n"
    "  password-free-open      open without a password (v1.0)\n"
    "  password-free-open-v11  open a channel without a password (v1.1, --channel N)\n"
    "  revoke                  revoke a password-free request (--reason rejected|canceled)\n"
    "  door-operate            lock or unlock without a password (--open true|false)\n"
    "  media                   latest capture URL and file_key (--kind unlock|alert)\n"
    "Door-opening calls fetch a fresh ticket first unless --ticket ID is given.\n\n"
    "Credentials: --credentials FILE, else the environment (TUYA_CLIENT_ID,\n"
    "TUYA_CLIENT_SECRET). The file is `key = value` lines ('#' comments):\n"
    "  client_id = ...\n"
    "  client_secret = ...\n"
    "  region = eu            (optional; or endpoint = https://...)\n"
    "and must be private (chmod 600 FILE) or it is refused.\n"
    "Server: --endpoint URL (any base URL, e.g. the emulator) or --region\n"
    "cn | us | us-east | eu | eu-west | in. TLS is verified; --ca-file PEM trusts a\n"
    "private CA; --insecure turns verification off (with a warning).\n\n"
    "Output: the result as JSON on stdout (indented on a terminal). ticket_key and\n"
    "file_key are printed because they are what those calls return; the access\n"
    "secret and tokens never are. A failed call exits 1 with\n"
    "  lockpipe api: <METHOD path>: Tuya code N: msg\n\n"
    "Examples:\n"
    "  lockpipe api remote-unlocks --device vdevo123 --region eu --credentials ~/.tuya\n"
    "  lockpipe api password-free-open --device vdevo123 --endpoint http://127.0.0.1:8080\n"
    "  lockpipe api media --device vdevo123 --kind alert --region us\n";

Result<bool> ParseBool(const std::string& name, const std::string& v) {
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return InvalidArgument("--" + name + " must be true or false, not '" + v + "'");
}

void Print(const nlohmann::json& j) {
  std::cout << (::isatty(STDOUT_FILENO) ? JsonText(j, 2) : JsonText(j)) << "\n";
}

int Run(int argc, char** argv) {
  po::options_description opts("Options");
  opts.add_options()("call", po::value<std::string>(), "the call (see below)")(
      "device", po::value<std::string>(), "device ID")(
      "endpoint", po::value<std::string>(), "base URL of the API (e.g. http://127.0.0.1:PORT)")(
      "region", po::value<std::string>(), "cn, us, us-east, eu, eu-west or in")(
      "credentials", po::value<std::string>(), "credentials file (chmod 600)")(
      "ca-file", po::value<std::string>(), "PEM file of the CA to trust")(
      "insecure", po::bool_switch(), "do not verify the server's TLS certificate (warns)")(
      "timeout", po::value<double>()->default_value(30.0), "seconds allowed per request")(
      "type", po::value<std::string>(),
      "set-switch: remoteUnlockWithoutPwd or remoteUnlockWithPwd")(
      "open", po::value<std::string>(), "set-switch / door-operate: true or false")(
      "password-file", po::value<std::string>(), "open-with-password: file holding the 6 digits")(
      "password-env", po::value<std::string>(),
      "open-with-password: variable holding the 6 digits")("channel", po::value<int>(),
                                                           "password-free-open-v11: channel ID")(
      "reason", po::value<std::string>(), "revoke: rejected or canceled")(
      "kind", po::value<std::string>()->default_value("unlock"), "media: unlock or alert")(
      "ticket", po::value<std::string>(), "door calls: use this ticket_id instead of a fresh one");
  po::positional_options_description pos;
  pos.add("call", 1);
  po::variables_map vm;
  int rc = 0;
  if (!ParseCommandLine(argc, argv, kCmd,
                        "lockpipe api CALL --device ID [--endpoint URL | --region NAME] [options]",
                        opts, pos, kDetails, &vm, &rc))
    return rc;
  if (!vm.count("call")) return UsageError(kCmd, "name the call (e.g. remote-unlocks)");
  if (!vm.count("device")) return UsageError(kCmd, "--device ID is required");
  const std::string call = vm["call"].as<std::string>();
  const std::string device = vm["device"].as<std::string>();
  auto str = [&](const char* name) {
    return vm.count(name) ? vm[name].as<std::string>() : std::string();
  };
  static const char* kCalls[] = {"remote-unlocks",
                                 "set-switch",
                                 "ticket",
                                 "open-with-password",
                                 "password-free-open",
                                 "password-free-open-v11",
                                 "revoke",
                                 "door-operate",
                                 "media"};
  if (std::find(std::begin(kCalls), std::end(kCalls), call) == std::end(kCalls))
    return UsageError(kCmd, "unknown call '" + call + "'");
  if (vm.count("endpoint") && vm.count("region"))
    return UsageError(kCmd, "give --endpoint or --region, not both");

  // Check the call's own options before any network traffic.
  bool open = true;
  if (call == "set-switch" || call == "door-operate") {
    if (!vm.count("open")) return UsageError(kCmd, call + " needs --open true|false");
    auto b = ParseBool("open", str("open"));
    if (!b.ok()) return UsageError(kCmd, b.status().message());
    open = *b;
  }
  if (call == "set-switch" && !vm.count("type"))
    return UsageError(kCmd, "set-switch needs --type remoteUnlockWithoutPwd|remoteUnlockWithPwd");
  if (call == "password-free-open-v11" && !vm.count("channel"))
    return UsageError(kCmd, "password-free-open-v11 needs --channel N");
  RevokeReason reason = RevokeReason::kRejected;
  if (call == "revoke") {
    if (!vm.count("reason")) return UsageError(kCmd, "revoke needs --reason rejected|canceled");
    auto r = ParseRevokeReason(str("reason"));
    if (!r.ok()) return UsageError(kCmd, r.status().message());
    reason = *r;
  }
  auto kind = ParseMediaKind(str("kind"));
  if (!kind.ok()) return UsageError(kCmd, kind.status().message());
  Secret password;
  if (call == "open-with-password") {
    if (vm.count("password-file") == vm.count("password-env"))
      return UsageError(kCmd,
                        "open-with-password needs exactly one of --password-file, --password-env");
    SecretSource src;
    src.file = str("password-file");
    src.env = str("password-env");
    auto p = LoadSecret(src, "door password");
    if (!p.ok()) return Fail(kCmd, p.status());
    password = std::move(p).value();
  }

  auto target = ResolveApiTarget(str("credentials"), str("endpoint"), str("region"));
  if (!target.ok()) return Fail(kCmd, target.status());
  CurlOptions http;
  http.ca_file = str("ca-file");
  http.insecure = vm["insecure"].as<bool>();
  http.timeout_ms = static_cast<int>(vm["timeout"].as<double>() * 1000.0);
  if (http.timeout_ms <= 0) return UsageError(kCmd, "--timeout must be positive");
  http.connect_timeout_ms = std::min(http.connect_timeout_ms, http.timeout_ms);
  auto tokens = std::make_shared<TokenManager>(target->base_url, std::move(target->credentials));
  auto api_r = MakeTuyaLockApi(tokens, http);
  if (!api_r.ok()) return Fail(kCmd, api_r.status());
  TuyaLockApi& api = **api_r;

  nlohmann::json out = {{"device_id", device}};
  // Door calls need a ticket; a fresh one unless the user gave one.
  auto ticket_id = [&]() -> Result<std::string> {
    if (vm.count("ticket")) return str("ticket");
    ASSIGN_OR_RETURN(Ticket t, api.GetPasswordTicket(device));
    return t.ticket_id;
  };
  Status s;
  if (call == "remote-unlocks") {
    auto r = api.GetRemoteUnlockMethods(device);
    if (!r.ok()) return Fail(kCmd, r.status());
    nlohmann::json list = nlohmann::json::array();
    for (const auto& m : *r) list.push_back({{"remote_unlock_type", m.type}, {"open", m.open}});
    out["methods"] = list;
  } else if (call == "set-switch") {
    s = api.SetRemoteUnlockSwitch(device, str("type"), open);
    out["remote_unlock_type"] = str("type");
    out["open"] = open;
  } else if (call == "ticket") {
    auto t = api.GetPasswordTicket(device);
    if (!t.ok()) return Fail(kCmd, t.status());
    out["ticket_id"] = t->ticket_id;
    out["ticket_key"] = t->ticket_key.reveal();  // what the user asked for
    out["expire_time"] = t->expire_time;
  } else if (call == "open-with-password") {
    auto t = api.GetPasswordTicket(device);
    if (!t.ok()) return Fail(kCmd, t.status());
    s = api.UnlockWithPassword(device, *t, password);
    out["ticket_id"] = t->ticket_id;
  } else if (call == "media") {
    auto m = api.GetLatestMediaUrl(device, *kind);
    if (!m.ok()) return Fail(kCmd, m.status());
    out["file_type"] = static_cast<int>(*kind);
    out["file_url"] = m->file_url;
    out["file_key"] = m->file_key.reveal();  // what the user asked for
    out["bucket"] = m->bucket;
    out["file_path"] = m->file_path;
  } else if (call == "revoke") {
    s = api.RevokePasswordFree(device, reason);
    out["type"] = static_cast<int>(reason);
  } else {
    auto id = ticket_id();
    if (!id.ok()) return Fail(kCmd, id.status());
    out["ticket_id"] = *id;
    if (call == "password-free-open") {
      s = api.PasswordFreeUnlock(device, *id);
    } else if (call == "password-free-open-v11") {
      out["channel_id"] = vm["channel"].as<int>();
      s = api.PasswordFreeUnlockChannel(device, *id, vm["channel"].as<int>());
    } else {
      out["open"] = open;
      s = api.DoorOperate(device, *id, open);
    }
  }
  if (!s.ok()) return Fail(kCmd, s);
  if (out.size() > 1 && call != "remote-unlocks" && call != "ticket" && call != "media")
    out["result"] = true;
  Print(out);
  return kExitOk;
}

}  // namespace

LOCKPIPE_COMMAND("api", "call the lock cloud's remote-unlocking API by hand (JSON out)", Run);

}  // namespace lockpipe::cli
