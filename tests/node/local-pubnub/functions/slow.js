// Never finishes: a busy loop (message.sync) or a promise that never settles.
export default async (request) => {
  if (request.message.sync) for (;;) {}
  await new Promise(() => {});
};
