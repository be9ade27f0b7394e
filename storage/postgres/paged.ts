/** Rows per page when a whole table is read (copying a store): never the whole of it in memory. */
const PAGE_SIZE = 500

/**
 * Every row of an ordered read, a page at a time: `read` returns up to `limit` rows that come after
 * `last` (the previous page's last row, undefined for the first page), in a stable order.
 */
export async function * paged<Row> (read: (last: Row | undefined, limit: number) => Promise<Row[]>): AsyncGenerator<Row> {
  let last: Row | undefined
  for (;;) {
    const rows = await read(last, PAGE_SIZE)
    yield * rows
    if (rows.length < PAGE_SIZE) return
    last = rows[rows.length - 1]
  }
}
