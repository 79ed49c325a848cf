/** Release (to be built). */
export function ReleasePage({ id }: { id: number }) {
  return (
    <section>
      <h1>Release #{id}</h1>
    </section>
  );
}
