// A small, realistic rule used by several routing tests.

import type { CellInfo, RoutingTableInput } from "../../../src/routing/index.ts";

export const CELLS: CellInfo[] = [
  { name: "rz01", type: "Regional", zone: "hz-a", region: "hangzhou" },
  { name: "rz02", type: "Regional", zone: "hz-b", region: "hangzhou" },
  { name: "rz03", type: "Regional", zone: "sh-a", region: "shanghai" },
  { name: "gz00", type: "Global", zone: "hz-a", region: "hangzhou" },
  { name: "cz-hz", type: "City", zone: "hz-b", region: "hangzhou" },
  { name: "cz-sh", type: "City", zone: "sh-a", region: "shanghai" },
];

export const USERS: RoutingTableInput = {
  ruleName: "users",
  shards: 100,
  function: { type: "Digits", from: -3, to: -1 },
  key: [
    { type: "Header", name: "x-user-id" },
    { type: "Query", name: "uid" },
  ],
  assignments: [
    { cell: "rz01", shards: "0-19,50-59" },
    { cell: "rz02", shards: "20-49" },
    { cell: "rz03", shards: "60-99" },
  ],
  globalCell: "gz00",
  onInvalidKey: "Global",
  cells: CELLS,
  epoch: 7,
};
