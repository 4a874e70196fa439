// On Interval: counts its runs.
export default async (event) => {
  const db = require('kvstore');
  await db.incrCounter('ticks');
  return event.ok();
};
