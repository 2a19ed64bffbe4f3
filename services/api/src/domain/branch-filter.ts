/**
 * GitLab's push_events_branch_filter semantics for a wildcard filter: `*` matches any run of
 * characters (including '/'), everything else is literal. An exact name matches only itself.
 */
export function matchesBranchFilter(filter: string, branch: string): boolean {
  if (!filter.includes("*")) return filter === branch;
  const pattern = filter
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${pattern}$`).test(branch);
}
