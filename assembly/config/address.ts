// "ip:port" validation, matching what Envoy's override_host / ORIGINAL_DST
// accept (parseInternetAddressAndPortNoThrow): IPv4 dotted quad or a
// bracketed IPv6 literal, then a port 1..65535. Hostnames are refused.

export function isValidAddress(a: string): bool {
  const colon = a.lastIndexOf(":");
  if (colon <= 0 || colon == a.length - 1) return false;
  if (!isValidPort(a.substring(colon + 1))) return false;
  const host = a.substring(0, colon);
  if (host.startsWith("[")) return host.endsWith("]") && isIPv6(host.substring(1, host.length - 1));
  return isIPv4(host);
}

function isValidPort(p: string): bool {
  if (p.length == 0 || p.length > 5) return false;
  let v = 0;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
    v = v * 10 + (c - 0x30);
  }
  return v >= 1 && v <= 65535;
}

function isIPv4(h: string): bool {
  const parts = h.split(".");
  if (parts.length != 4) return false;
  for (let i = 0; i < 4; i++) {
    const s = parts[i];
    if (s.length == 0 || s.length > 3) return false;
    if (s.length > 1 && s.charCodeAt(0) == 0x30) return false;
    let v = 0;
    for (let j = 0; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (c < 0x30 || c > 0x39) return false;
      v = v * 10 + (c - 0x30);
    }
    if (v > 255) return false;
  }
  return true;
}

function isIPv6(h: string): bool {
  if (h.length < 2 || h.length > 39) return false;
  let groups = 0;
  let doubleColon = false;
  let run = 0;
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c == 0x3a) {
      if (i + 1 < h.length && h.charCodeAt(i + 1) == 0x3a) {
        if (doubleColon) return false;
        doubleColon = true;
        if (run > 0) groups++;
        run = 0;
        i++;
        continue;
      }
      if (run == 0) return false;
      groups++;
      run = 0;
      continue;
    }
    const hex = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
    if (!hex || ++run > 4) return false;
  }
  if (run > 0) groups++;
  return doubleColon ? groups < 8 : groups == 8;
}
