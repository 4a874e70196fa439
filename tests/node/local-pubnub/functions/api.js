// On Request: echoes method, path, query and JSON body, plus a KV read.
export default async (request, response) => {
  const db = require('kvstore');
  if (request.params.fail) throw new Error('asked to fail');
  const body = request.method === 'POST' ? await request.json() : null;
  response.headers['X-Test'] = 'yes';
  return response.send({ method: request.method, path: request.path, query: request.params, body, ticks: await db.getCounter('ticks') }, 201);
};
