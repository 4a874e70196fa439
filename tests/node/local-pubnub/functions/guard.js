// Before Publish: refuses {bad:true}, stamps everything else.
export default (request) => {
  if (request.message && request.message.bad) return request.abort();
  request.message.stamped = true;
  return request.ok();
};
