/* web.c: GET / — a small static leaderboard page that polls GET /results.
 * Thread-safe (constant data). */
#include <string.h>

#include "api.h"
#include "xalloc.h"

static const char page[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>kernelfarm leaderboard</title>\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}"
    "table{border-collapse:collapse;min-width:40em}th,td{padding:4px 10px;text-align:left;"
    "border-bottom:1px solid #ddd}th{background:#f4f4f4}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums}.muted{color:#888}</style></head><body>\n"
    "<h1>kernelfarm leaderboard</h1>\n"
    "<p class=\"muted\">Ranked by mean speedup over every workload; only solutions that passed "
    "all workloads. Updated <span id=\"ts\">never</span>.</p>\n"
    "<div id=\"board\">loading&hellip;</div>\n"
    "<script>\n"
    "function esc(s){return String(s==null?'':s).replace(/[&<>\"']/g,function(c){return "
    "'&#'+c.charCodeAt(0)+';'})}\n"
    "function num(x,d){return x==null?'&ndash;':Number(x).toFixed(d)}\n"
    "function render(r){var h='';(r.definitions||[]).forEach(function(d){"
    "h+='<h2>'+esc(d.definition)+' <span class=muted>('+d.num_workloads+' workloads)</span></h2>';"
    "if(!d.boards.length){h+='<p class=muted>no complete passing solution yet</p>';return}"
    "d.boards.forEach(function(b){h+='<h3>'+esc(b.hardware)+'</h3><table><tr><th>#</th>"
    "<th>solution</th><th>author</th><th>mean speedup</th><th>mean latency (ms)</th>"
    "<th>workloads</th><th>evaluated</th></tr>';b.ranking.forEach(function(e){"
    "h+='<tr><td class=n>'+e.rank+'</td><td>'+esc(e.solution)+'</td><td>'+esc(e.author)+"
    "'</td><td class=n>'+num(e.mean_speedup,2)+'&times;</td><td class=n>'+"
    "num(e.mean_latency_ms,4)+'</td><td class=n>'+e.workloads_passed+'/'+e.workloads_total+"
    "'</td><td>'+new Date(e.last_evaluated*1000).toISOString().replace('T',' ').slice(0,19)+"
    "'</td></tr>'});h+='</table>'})});"
    "document.getElementById('board').innerHTML=h||'<p class=muted>no definitions</p>';"
    "document.getElementById('ts').textContent=new Date().toLocaleTimeString()}\n"
    "function poll(){fetch('results').then(function(r){return r.json()}).then(render)"
    ".catch(function(){}).finally(function(){setTimeout(poll,5000)})}\npoll();\n"
    "</script></body></html>\n";

void api_index(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
    (void)ctx;
    (void)req;
    api_text(resp, 200, "text/html; charset=utf-8", xstrndup(page, sizeof page - 1),
             sizeof page - 1);
}
