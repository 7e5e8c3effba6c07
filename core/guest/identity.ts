/**
 * The host identity a guest's processes run as: a uid of its own (gid = uid),
 * never root, never shared with another instance, plus the groups it reads its
 * images through (the shared catalogue's, and its owner's). See core/jail/.
 */
export interface GuestIdentity {
  uid: number;
  gid: number;
  groups: number[];
}
