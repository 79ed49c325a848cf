/** People (to be built). */
export function PeoplePage() {
  return (
    <section>
      <h1>People</h1>
    </section>
  );
}
