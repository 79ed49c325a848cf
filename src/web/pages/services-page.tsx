/** Services (to be built). */
export function ServicesPage() {
  return (
    <section>
      <h1>Services</h1>
    </section>
  );
}
