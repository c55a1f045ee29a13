// Where the browser client finds the FitsFlow API and the stored outputs. Empty strings mean
// "this page's own origin", which is right when `fitsflow serve` serves this folder. A deployment
// that puts the page on one host and the API (or a CDN in front of the outputs) on another sets
// the full base URLs here, without a trailing slash, e.g.
//   apiBase:   'https://api.example.org'      (POST /api/sessions, /FitsFlow-2-Trigger, ...)
//   filesBase: 'https://files.example.org'    (GET /temp/..., /daily_videos/...)
// When filesBase is empty, the server's /api/config may name one ("files_base_url"); otherwise
// the outputs are fetched from apiBase.
export default {
  apiBase: '',
  filesBase: '',
};
