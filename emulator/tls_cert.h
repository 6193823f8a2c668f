// A self-signed certificate for the emulator's HTTPS mode.
//
// The certificate is its own CA (basicConstraints CA:TRUE), so a client trusts
// it by adding the certificate file to its CA list (curl --cacert, httplib
// set_ca_cert_path). Its subjectAltName is IP:127.0.0.1 and DNS:localhost so
// hostname verification passes for loopback URLs.
//
// Thread-safety: a pure function of its arguments (OpenSSL is thread-safe).
#pragma once

#include <string>

#include "base/status.h"

namespace lockpipe::emulator {

// Writes a fresh P-256 key (mode 0600) and a certificate valid from an hour
// ago for 30 days, both PEM, atomically. Fails naming the file or OpenSSL call.
Status GenerateSelfSignedCert(const std::string& cert_path, const std::string& key_path);

}  // namespace lockpipe::emulator
