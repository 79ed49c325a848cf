/** History (to be built). */
export function HistoryPage() {
  return (
    <section>
      <h1>History</h1>
    </section>
  );
}
