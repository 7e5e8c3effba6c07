/** Debian's `slirp` package: the plain binary emulates a 115200-baud line and answered nothing here; fullbolt works. */
export const SLIRP = "/usr/bin/slirp-fullbolt";
/**
 * slirp's arguments (UML splits them at commas and turns `_` into spaces):
 * `control addr 255.255.255.255` refuses its command line to everyone. Open,
 * a guest connecting to 10.0.2.0 gets slirp's telnet prompt, whose `exec`
 * runs any host program as the guest's uid and `redir` opens host ports.
 */
export const SLIRP_ARGS = ["control_addr_255.255.255.255"];
